import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiError } from '../../src/api/http/api-error';
import { loadConfig } from '../../src/platform/config/config';
import { guessContentType } from '../../src/platform/storage/content-type';
import {
  FilesystemObjectStore,
  loadOrCreateUrlSigningSecret,
  resolveUrlSigningSecret,
  signFileUrl,
  verifySignedFileUrl,
} from '../../src/platform/storage/filesystem-object-store';
import { MinioObjectStore, parseMinioEndpoint } from '../../src/platform/storage/minio-object-store';
import { assertValidExpiry, assertValidPrefix, InvalidObjectKeyError } from '../../src/platform/storage/object-store';
import { parseRangeHeader, SignedFilesController } from '../../src/api/files/signed-files.controller';
import { createObjectStore } from '../../src/platform/storage/create-object-store';

const SECRET = 'a-test-secret-of-enough-length';

describe('verifySignedFileUrl', () => {
  const key = 'inferences/1/out.tif';
  const expires = 2_000_000_000;
  const signature = createHmac('sha256', SECRET).update(`${key}\n${expires}`).digest('hex');

  it('signs HMAC-SHA256 over "key\\nexpires"', () => {
    expect(signFileUrl(key, expires, SECRET)).toBe(signature);
  });

  it('accepts a valid signature before expiry (also at the expiry second)', () => {
    expect(verifySignedFileUrl(key, String(expires), signature, SECRET, expires - 10)).toEqual({ valid: true });
    expect(verifySignedFileUrl(key, expires, signature.toUpperCase(), SECRET, expires)).toEqual({ valid: true });
  });

  it('refuses expired, forged, malformed and cross-key signatures', () => {
    expect(verifySignedFileUrl(key, String(expires), signature, SECRET, expires + 1)).toEqual({
      valid: false,
      reason: 'expired',
    });
    expect(verifySignedFileUrl(key, String(expires + 1), signature, SECRET, 0)).toEqual({
      valid: false,
      reason: 'bad-signature',
    });
    expect(verifySignedFileUrl('inferences/1/other.tif', String(expires), signature, SECRET, 0)).toEqual({
      valid: false,
      reason: 'bad-signature',
    });
    expect(verifySignedFileUrl(key, String(expires), signature, `${SECRET}x`, 0)).toEqual({
      valid: false,
      reason: 'bad-signature',
    });
    expect(verifySignedFileUrl(key, undefined, signature, SECRET, 0)).toEqual({ valid: false, reason: 'malformed' });
    expect(verifySignedFileUrl(key, '12abc', signature, SECRET, 0)).toEqual({ valid: false, reason: 'malformed' });
    expect(verifySignedFileUrl(key, String(expires), signature.slice(2), SECRET, 0)).toEqual({
      valid: false,
      reason: 'malformed',
    });
    expect(verifySignedFileUrl(key, String(expires), undefined, SECRET, 0)).toEqual({
      valid: false,
      reason: 'malformed',
    });
  });
});

describe('FilesystemObjectStore.signedGetUrl', () => {
  it('builds <base>/files/<encoded key>?expires=&signature= that its verifier accepts', async () => {
    const store = new FilesystemObjectStore({
      rootDir: os.tmpdir(),
      publicBaseUrl: 'http://api.example/',
      signingSecret: SECRET,
    });
    const before = Math.floor(Date.now() / 1000);
    const url = new URL(await store.signedGetUrl('a b/c#d.tif', 60));
    expect(url.origin + url.pathname).toBe('http://api.example/files/a%20b/c%23d.tif');
    const expires = Number(url.searchParams.get('expires'));
    expect(expires).toBeGreaterThanOrEqual(before + 60);
    expect(expires).toBeLessThanOrEqual(before + 61);
    expect(
      store.verifySignedUrl('a b/c#d.tif', url.searchParams.get('expires')!, url.searchParams.get('signature')!),
    ).toEqual({ valid: true });
  });

  it('needs a secret of at least 16 characters', () => {
    expect(
      () => new FilesystemObjectStore({ rootDir: os.tmpdir(), publicBaseUrl: 'http://x', signingSecret: 'short' }),
    ).toThrow(/16/);
  });
});

describe('URL signing secret', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secret-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is generated once, persisted with mode 0600 and reused', () => {
    const dataDir = path.join(dir, 'data'); // created on demand
    const first = loadOrCreateUrlSigningSecret(dataDir);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(fs.statSync(path.join(dataDir, 'url-signing-secret')).mode & 0o777).toBe(0o600);
    expect(loadOrCreateUrlSigningSecret(dataDir)).toBe(first);
    expect(fs.readdirSync(dataDir)).toEqual(['url-signing-secret']);
  });

  it('prefers URL_SIGNING_SECRET and then writes nothing', () => {
    expect(resolveUrlSigningSecret({ URL_SIGNING_SECRET: SECRET, DATA_DIR: dir })).toBe(SECRET);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses a persisted secret that is too short', () => {
    fs.writeFileSync(path.join(dir, 'url-signing-secret'), 'tiny\n');
    expect(() => loadOrCreateUrlSigningSecret(dir)).toThrow(/shorter than 16/);
  });
});

describe('parseRangeHeader', () => {
  it.each([
    [undefined, undefined],
    ['bytes=0-9', { start: 0, end: 9 }],
    ['bytes=90-', { start: 90, end: 99 }],
    ['bytes=90-500', { start: 90, end: 99 }],
    ['bytes=-10', { start: 90, end: 99 }],
    ['bytes=-500', { start: 0, end: 99 }],
    ['bytes=100-', 'unsatisfiable'],
    ['bytes=100-200', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=9-0', undefined],
    ['bytes=0-1,5-6', undefined],
    ['items=0-1', undefined],
    ['bytes=abc', undefined],
    ['bytes=-', undefined],
  ])('%j of 100 bytes -> %j', (header, expected) => {
    expect(parseRangeHeader(header, 100)).toEqual(expected);
  });

  it('treats any range of an empty object as unsatisfiable', () => {
    expect(parseRangeHeader('bytes=0-', 0)).toBe('unsatisfiable');
    expect(parseRangeHeader('bytes=-1', 0)).toBe('unsatisfiable');
  });
});

describe('SignedFilesController with the minio driver', () => {
  it('answers 404: MinIO serves its own presigned URLs', async () => {
    const store = new MinioObjectStore({
      endpoint: 'http://127.0.0.1:1',
      accessKey: 'a',
      secretKey: 'b',
      bucket: 'bucket',
    });
    const controller = new SignedFilesController(store);
    const error = await controller.serve(['a.tif'], { query: {} } as never, {} as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).getStatus()).toBe(404);
  });
});

describe('parseMinioEndpoint', () => {
  it.each([
    ['http://127.0.0.1:9000', { endPoint: '127.0.0.1', port: 9000, useSSL: false }],
    ['https://s3.example.com', { endPoint: 's3.example.com', port: 443, useSSL: true }],
    ['http://minio', { endPoint: 'minio', port: 80, useSSL: false }],
    ['minio:9000', { endPoint: 'minio', port: 9000, useSSL: false }],
    ['http://[::1]:9000/', { endPoint: '::1', port: 9000, useSSL: false }],
  ])('%s', (endpoint, expected) => {
    expect(parseMinioEndpoint(endpoint)).toEqual(expected);
  });

  it('rejects paths and other schemes', () => {
    expect(() => parseMinioEndpoint('http://minio:9000/bucket')).toThrow(/path/);
    expect(() => parseMinioEndpoint('ftp://minio')).toThrow(/http or https/);
  });
});

describe('key, prefix and expiry validation', () => {
  it.each(['', 'a/', 'a/b/', 'a/b', 'a/partial-name'])('accepts the prefix %j', (prefix) => {
    expect(assertValidPrefix(prefix)).toBe(prefix);
  });

  it.each(['/a', '../', 'a//b', 'a/./b', 'a/..', 'a\\b', '//'])('rejects the prefix %j', (prefix) => {
    expect(() => assertValidPrefix(prefix)).toThrow(InvalidObjectKeyError);
  });

  it('bounds signed URL expiry to 1 s .. 7 days', () => {
    expect(assertValidExpiry(1)).toBe(1);
    expect(assertValidExpiry(604_800)).toBe(604_800);
    for (const bad of [0, -1, 604_801, 1.5, Number.NaN]) expect(() => assertValidExpiry(bad)).toThrow(RangeError);
  });
});

describe('guessContentType', () => {
  it.each([
    ['a/b.tif', 'image/tiff'],
    ['a/b.TIFF', 'image/tiff'],
    ['x.json', 'application/json'],
    ['proc.py', 'text/x-python'],
    ['model.onnx', 'application/octet-stream'],
    ['mask.png', 'image/png'],
    ['noext', 'application/octet-stream'],
  ])('%s -> %s', (key, type) => {
    expect(guessContentType(key)).toBe(type);
  });
});

describe('createObjectStore', () => {
  it('picks the implementation from STORAGE_DRIVER', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'create-store-'));
    try {
      const fsStore = createObjectStore(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir }));
      expect(fsStore).toBeInstanceOf(FilesystemObjectStore);
      expect((fsStore as FilesystemObjectStore).rootDir).toBe(path.join(dataDir, 'objects'));
      const minio = createObjectStore(
        loadConfig({
          NODE_ENV: 'test',
          DATA_DIR: dataDir,
          STORAGE_DRIVER: 'minio',
          MINIO_ENDPOINT: 'http://127.0.0.1:9000',
          MINIO_ACCESS_KEY: 'a',
          MINIO_SECRET_KEY: 'b',
        }),
      );
      expect(minio).toBeInstanceOf(MinioObjectStore);
      expect((minio as MinioObjectStore).bucket).toBe('geo-inference');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
