/**
 * A loopback HTTP proxy that applies the address policy at connect time for clients we do not control:
 * GDAL (the STAC chip and permanent-water reads of python/stac_chip.py) resolves and dials by itself and
 * follows redirects itself, so it is pointed at this proxy (`GDAL_HTTP_PROXY`). Every connection it asks
 * for, first request or redirect hop, `CONNECT host:port` (https) or an absolute-form request (http),
 * is resolved here and dialled only when the policy accepts the address. A per-proxy password keeps
 * other local processes from using it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { type AddressPolicy, resolveForConnect, type Resolver, systemResolver } from './address-policy';

export interface PolicyProxy {
  /** host:port of the proxy (127.0.0.1). */
  address: string;
  /** Environment for a GDAL child process: proxy, its credentials, and no NO_PROXY bypass. */
  gdalEnv: Record<string, string>;
  /** Connections refused so far (`host:port: reason`), for the step log. */
  refused: string[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export async function startPolicyProxy(
  policy: AddressPolicy,
  resolve: Resolver = systemResolver,
): Promise<PolicyProxy> {
  const user = 'geo';
  const password = randomBytes(18).toString('base64url');
  const expected = Buffer.from(`Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`);
  const refused: string[] = [];
  const sockets = new Set<net.Socket>();
  const authorised = (header: string | undefined) => {
    const given = Buffer.from(header ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const refuse = (target: string, error: Error) => refused.push(`${target}: ${error.message}`);

  const server = http.createServer((request, response) => {
    // Plain-http requests arrive in absolute form (GET http://host/path).
    if (!authorised(request.headers['proxy-authorization'])) {
      response.writeHead(407, { 'proxy-authenticate': 'Basic realm="geo-inference"' }).end();
      return;
    }
    let target: URL;
    try {
      target = new URL(request.url ?? '');
    } catch {
      response.writeHead(400).end();
      return;
    }
    if (target.protocol !== 'http:') {
      response.writeHead(403).end();
      return;
    }
    const port = Number(target.port || 80);
    resolveForConnect(target.hostname, policy, resolve).then(
      (address) => {
        const headers = Object.fromEntries(
          Object.entries(request.headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())),
        );
        const upstream = http.request(
          {
            host: address,
            port,
            method: request.method,
            path: `${target.pathname}${target.search}`,
            headers: { ...headers, host: target.host },
          },
          (answer) => {
            const answerHeaders = Object.fromEntries(
              Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())),
            );
            response.writeHead(answer.statusCode ?? 502, answerHeaders);
            answer.pipe(response);
          },
        );
        upstream.on('error', () => (response.headersSent ? response.destroy() : response.writeHead(502).end()));
        request.pipe(upstream);
      },
      (error: Error) => {
        refuse(target.host, error);
        response.writeHead(403, { 'content-type': 'text/plain' }).end('refused by the address policy');
      },
    );
  });

  server.on('connect', (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (!authorised(request.headers['proxy-authorization'])) {
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="geo-inference"\r\n\r\n',
      );
      return;
    }
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(request.url ?? '');
    if (!match) {
      client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const [, host, port] = match;
    resolveForConnect(host, policy, resolve).then(
      (address) => {
        const upstream = net.connect(Number(port), address, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length > 0) upstream.write(head);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        sockets.add(upstream);
        upstream.on('close', () => {
          sockets.delete(upstream);
          client.destroy();
        });
        upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
      },
      (error: Error) => {
        refuse(`${host}:${port}`, error);
        client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      },
    );
  });

  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as net.AddressInfo;
  const address = `127.0.0.1:${port}`;
  return {
    address,
    gdalEnv: {
      GDAL_HTTP_PROXY: address,
      GDAL_HTTP_PROXYUSERPWD: `${user}:${password}`,
      GDAL_HTTP_PROXYAUTH: 'BASIC',
    },
    refused,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
