import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AddressPolicy,
  checkUrlAgainstPolicy,
  isRefusedAddress,
  redactUrl,
  redactUrlsIn,
  type Resolver,
  UrlPolicyError,
} from '../../src/geo/net/address-policy';
import { guardedGet } from '../../src/geo/net/guarded-fetch';
import { parseAllowedHosts } from '../../src/platform/config/allowed-hosts';
import { loadConfig } from '../../src/platform/config/config';

const strict = (allowed = ''): AddressPolicy => ({
  allowPrivateAddresses: false,
  allowedHosts: parseAllowedHosts(allowed),
  settingName: 'FETCH_ALLOW_PRIVATE_ADDRESSES',
});

/** A resolver answering from a table, counting calls per host (DNS rebinding: a list per call). */
function fakeDns(table: Record<string, string[] | string[][]>) {
  const calls: Record<string, number> = {};
  const resolve: Resolver = async (host) => {
    const entry = table[host];
    if (!entry) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    const call = (calls[host] = (calls[host] ?? 0) + 1);
    return Array.isArray(entry[0]) ? (entry as string[][])[Math.min(call, entry.length) - 1] : (entry as string[]);
  };
  return { resolve, calls };
}

describe('address policy', () => {
  it.each([
    ['loopback', 'http://127.0.0.1:8080/scene.tif'],
    ['loopback, short form', 'http://127.1/scene.tif'],
    ['loopback, decimal', 'http://2130706433/scene.tif'],
    ['loopback, hex', 'http://0x7f000001/scene.tif'],
    ['unspecified', 'http://0.0.0.0/scene.tif'],
    ['private 10/8', 'http://10.1.2.3/scene.tif'],
    ['private 172.16/12', 'https://172.20.0.5/scene.tif'],
    ['private 192.168/16', 'http://192.168.1.10/scene.tif'],
    ['carrier-grade NAT', 'http://100.64.0.1/scene.tif'],
    ['link-local', 'http://169.254.10.20/scene.tif'],
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['IPv6 loopback', 'http://[::1]/scene.tif'],
    ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/scene.tif'],
    ['IPv4-mapped IPv6 (hex) metadata', 'http://[::ffff:a9fe:a9fe]/latest'],
    ['IPv6 link-local', 'http://[fe80::1]/scene.tif'],
    ['IPv6 unique-local (AWS IMDS)', 'http://[fd00:ec2::254]/latest'],
    ['NAT64 of the metadata address', 'http://[64:ff9b::a9fe:a9fe]/latest'],
    ['6to4 of loopback', 'http://[2002:7f00:1::]/x'],
    ['localhost', 'http://localhost:3000/scene.tif'],
  ])('refuses %s (%s)', async (_label, url) => {
    await expect(checkUrlAgainstPolicy(url, strict())).rejects.toThrow(UrlPolicyError);
    await expect(checkUrlAgainstPolicy(url, strict())).rejects.toThrow(/private or internal address/);
  });

  it('refuses host names that resolve to an internal address, any of them', async () => {
    const { resolve } = fakeDns({
      'internal.example': ['10.0.0.7'],
      'mixed.example': ['93.184.215.14', '169.254.169.254'],
      'mapped.example': ['::ffff:127.0.0.1'],
    });
    for (const host of ['internal.example', 'mixed.example', 'mapped.example']) {
      await expect(checkUrlAgainstPolicy(`https://${host}/a.tif`, strict(), resolve)).rejects.toThrow(
        new RegExp(`host ${host} resolves to`),
      );
    }
  });

  it('accepts public addresses and names, and everything when private addresses are allowed', async () => {
    const { resolve } = fakeDns({ 'public.example': ['93.184.215.14', '2606:2800:220:1::'] });
    await expect(checkUrlAgainstPolicy('https://public.example/a.tif', strict(), resolve)).resolves.toBeInstanceOf(URL);
    await expect(checkUrlAgainstPolicy('http://93.184.215.14/a.tif', strict())).resolves.toBeInstanceOf(URL);
    await expect(
      checkUrlAgainstPolicy('http://127.0.0.1/a.tif', { ...strict(), allowPrivateAddresses: true }),
    ).resolves.toBeInstanceOf(URL);
  });

  it('refuses schemes other than http(s) whatever the setting', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://example.com/a.tif', 'gopher://x/', 'not a url']) {
      await expect(checkUrlAgainstPolicy(url, { ...strict(), allowPrivateAddresses: true })).rejects.toThrow(
        UrlPolicyError,
      );
    }
  });

  it('lets allow-listed hosts, suffixes, addresses and ranges through', async () => {
    const { resolve } = fakeDns({ 'tiles.internal': ['10.9.9.9'], 'a.corp.example': ['192.168.3.3'] });
    const policy = strict('tiles.internal, *.corp.example, 10.20.0.0/16, [fd00::5]');
    await expect(checkUrlAgainstPolicy('http://tiles.internal/x.tif', policy, resolve)).resolves.toBeInstanceOf(URL);
    await expect(checkUrlAgainstPolicy('http://a.corp.example/x.tif', policy, resolve)).resolves.toBeInstanceOf(URL);
    await expect(checkUrlAgainstPolicy('http://10.20.4.5/x.tif', policy)).resolves.toBeInstanceOf(URL);
    await expect(checkUrlAgainstPolicy('http://[fd00::5]/x.tif', policy)).resolves.toBeInstanceOf(URL);
    await expect(checkUrlAgainstPolicy('http://10.21.0.1/x.tif', policy)).rejects.toThrow(UrlPolicyError);
    expect(isRefusedAddress('::ffff:10.20.1.1', policy)).toBe(false);
    expect(() => parseAllowedHosts('exa mple.com')).toThrow(/not a host name/);
    expect(() => parseAllowedHosts('10.0.0.0/99')).toThrow(/CIDR/);
  });

  it('is strict by default in production and open in development, like webhooks', () => {
    const base = { API_KEYS: 'k:u@example.com' };
    expect(loadConfig({ ...base, NODE_ENV: 'production' }).fetchAllowPrivateAddresses).toBe(false);
    expect(loadConfig({ ...base, NODE_ENV: 'development' }).fetchAllowPrivateAddresses).toBe(true);
    expect(
      loadConfig({ ...base, NODE_ENV: 'production', FETCH_ALLOW_PRIVATE_ADDRESSES: 'true' }).fetchAllowPrivateAddresses,
    ).toBe(true);
    expect(
      loadConfig({ ...base, ALLOWED_INTERNAL_HOSTS: 'geo.internal,10.0.0.0/8' }).allowedInternalHosts.names,
    ).toEqual(['geo.internal']);
    expect(() => loadConfig({ ...base, ALLOWED_INTERNAL_HOSTS: 'bad host' })).toThrow(/ALLOWED_INTERNAL_HOSTS/);
  });

  it('redacts credentials and token-like query parameters', () => {
    expect(redactUrl('https://user:secret@host.example/a.tif?X-Amz-Signature=abc&band=B04&token=t0k')).toBe(
      'https://host.example/a.tif?X-Amz-Signature=[redacted]&band=B04&token=[redacted]',
    );
    expect(redactUrl('https://x.blob.core.windows.net/c/a.tif?sv=1&sig=zzz&se=2030')).not.toMatch(/zzz/);
    expect(redactUrlsIn('cannot read https://u:pw@h.example/a.tif?sig=s3cr3t: HTTP 403')).toBe(
      'cannot read https://h.example/a.tif?sig=[redacted]: HTTP 403',
    );
  });
});

describe('guarded requests (connect-time checks)', () => {
  let server: http.Server;
  let port: number;
  const hits: string[] = [];

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      hits.push(request.url ?? '');
      if (request.url === '/redirect-internal') {
        response.writeHead(302, { location: `http://127.0.0.1:${port}/secret` }).end();
      } else if (request.url === '/redirect-metadata') {
        response.writeHead(301, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      } else if (request.url === '/redirect-ok') {
        response.writeHead(307, { location: '/scene.tif' }).end();
      } else {
        response.writeHead(200, { 'content-type': 'text/plain' }).end(`body of ${request.url}`);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => hits.splice(0));

  const read = async (stream: NodeJS.ReadableStream) => {
    let text = '';
    for await (const chunk of stream) text += String(chunk);
    return text;
  };

  it('connects to an allow-listed host and follows redirects on it', async () => {
    const response = await guardedGet(`http://localhost:${port}/redirect-ok`, {
      policy: strict('localhost'),
      timeoutMs: 5000,
    });
    expect(response.status).toBe(200);
    expect(response.redirects).toBe(1);
    expect(await read(response.body)).toBe('body of /scene.tif');
  });

  it('refuses a redirect to an internal address, checked at that hop', async () => {
    for (const path of ['/redirect-internal', '/redirect-metadata']) {
      await expect(
        guardedGet(`http://localhost:${port}${path}`, { policy: strict('localhost'), timeoutMs: 5000 }),
      ).rejects.toThrow(UrlPolicyError);
    }
    expect(hits).toEqual(['/redirect-internal', '/redirect-metadata']);
  });

  it('refuses a name that resolves to an internal address only when connecting (DNS rebinding)', async () => {
    const { resolve, calls } = fakeDns({ 'rebind.example': [['93.184.215.14'], ['127.0.0.1']] });
    const url = `http://rebind.example:${port}/secret`;
    await expect(checkUrlAgainstPolicy(url, strict(), resolve)).resolves.toBeInstanceOf(URL);
    await expect(guardedGet(url, { policy: strict(), timeoutMs: 5000, resolve })).rejects.toThrow(
      /rebind.example resolves to 127.0.0.1/,
    );
    expect(calls['rebind.example']).toBe(2);
    expect(hits).toEqual([]);
  });

  it('refuses an internal literal before connecting, and connects when private addresses are allowed', async () => {
    await expect(guardedGet(`http://127.0.0.1:${port}/x`, { policy: strict(), timeoutMs: 5000 })).rejects.toThrow(
      UrlPolicyError,
    );
    expect(hits).toEqual([]);
    const open = await guardedGet(`http://[::ffff:127.0.0.1]:${port}/redirect-internal`, {
      policy: { ...strict(), allowPrivateAddresses: true },
      timeoutMs: 5000,
    });
    expect(open.status).toBe(200);
    expect(await read(open.body)).toBe('body of /secret');
  });
});
