import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { AllExceptionsFilter } from '../../src/api/http/all-exceptions.filter';
import { loadConfig } from '../../src/platform/config/config';
import { APP_CONFIG, ConfigModule } from '../../src/api/config.module';
import { FilesystemObjectStore, URL_SIGNING_SECRET_FILE } from '../../src/platform/storage/filesystem-object-store';
import { MinioObjectStore } from '../../src/platform/storage/minio-object-store';
import { InvalidObjectKeyError, ObjectNotFoundError, type ObjectStore } from '../../src/platform/storage/object-store';
import { StorageModule } from '../../src/api/storage.module';
import { createObjectStore } from '../../src/platform/storage/create-object-store';

/**
 * One contract, two implementations: the filesystem store (signed URLs served by the real Nest route on
 * a real port) and a real MinIO server (MINIO_ENDPOINT / MINIO_ACCESS_KEY / MINIO_SECRET_KEY, set by
 * scripts/with-services.sh). Missing MinIO variables fail the MinIO half; they never skip it.
 */
interface Harness {
  store: ObjectStore;
  teardown(): Promise<void>;
}

async function filesystemHarness(): Promise<Harness> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-contract-'));
  const env = { NODE_ENV: 'test', DATA_DIR: dataDir, STORAGE_DRIVER: 'filesystem' };
  // The API process: StorageModule + its controller, listening on a free port.
  const moduleRef = await Test.createTestingModule({ imports: [ConfigModule, StorageModule] })
    .overrideProvider(APP_CONFIG)
    .useValue(loadConfig({ ...env, PORT: '0' }))
    .compile();
  const app: INestApplication = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  app.useGlobalFilters(new AllExceptionsFilter());
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  // The store under test is a second instance (as in a separate worker process): same DATA_DIR, so it
  // must pick up the secret the API generated and persisted, and hand out URLs the API accepts.
  const store = createObjectStore(loadConfig({ ...env, PUBLIC_BASE_URL: `http://127.0.0.1:${port}` }));
  expect(store).toBeInstanceOf(FilesystemObjectStore);
  await store.ensureReady();
  return {
    store,
    async teardown() {
      await app.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function minioHarness(): Promise<Harness> {
  const { MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY } = process.env;
  if (!MINIO_ENDPOINT || !MINIO_ACCESS_KEY || !MINIO_SECRET_KEY) {
    throw new Error(
      'MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY must be set (run the tests through scripts/with-services.sh)',
    );
  }
  const bucket = `contract-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const store = new MinioObjectStore({
    endpoint: MINIO_ENDPOINT,
    accessKey: MINIO_ACCESS_KEY,
    secretKey: MINIO_SECRET_KEY,
    bucket,
  });
  await store.ensureReady();
  return {
    store,
    async teardown() {
      await store.deletePrefix('');
      await store.client.removeBucket(bucket);
    },
  };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each([
  ['filesystem', filesystemHarness],
  ['minio', minioHarness],
])('ObjectStore contract: %s', (driver, makeHarness) => {
  let harness: Harness | undefined;
  let scratch: string;
  const store = (): ObjectStore => {
    if (!harness) throw new Error(`the ${driver} store did not start (see the beforeAll error)`);
    return harness.store;
  };

  beforeAll(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), `storage-scratch-${driver}-`));
    harness = await makeHarness();
  });

  afterAll(async () => {
    await harness?.teardown();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('ensureReady is idempotent, also when called concurrently', async () => {
    await Promise.all([store().ensureReady(), store().ensureReady()]);
    await store().ensureReady();
  });

  it('puts and gets a Buffer', async () => {
    const body = Buffer.from('hello, object store\n');
    const info = await store().putObject('contract/buffer/hello.txt', body, { contentType: 'text/plain' });
    expect(info.key).toBe('contract/buffer/hello.txt');
    expect(info.size).toBe(body.length);
    expect(info.lastModified).toBeInstanceOf(Date);
    expect(await store().getObject('contract/buffer/hello.txt')).toEqual(body);
    expect(await readAll(await store().getStream('contract/buffer/hello.txt'))).toEqual(body);
  });

  it('puts a stream and overwrites an existing key', async () => {
    const chunks = Array.from({ length: 50 }, (_, i) => randomBytes(10_000 + i));
    const info = await store().putObject('contract/stream/data.bin', Readable.from(chunks));
    const expected = Buffer.concat(chunks);
    expect(info.size).toBe(expected.length);
    expect(sha256(await readAll(await store().getStream('contract/stream/data.bin')))).toBe(sha256(expected));

    await store().putObject('contract/stream/data.bin', Buffer.from('short'));
    expect((await store().getObject('contract/stream/data.bin')).toString()).toBe('short');
  });

  it('puts an empty object', async () => {
    const info = await store().putObject('contract/empty', Buffer.alloc(0));
    expect(info.size).toBe(0);
    expect((await store().getObject('contract/empty')).length).toBe(0);
  });

  it('rejects a put whose source stream fails, leaving no object behind', async () => {
    const failing = new Readable({
      read() {
        this.push(randomBytes(1024));
        this.destroy(new Error('source broke'));
      },
    });
    await expect(store().putObject('contract/broken/x.bin', failing)).rejects.toThrow('source broke');
    expect(await store().exists('contract/broken/x.bin')).toBe(false);
  });

  it('putFile and downloadToFile stream a multi-MB file unchanged', async () => {
    const source = path.join(scratch, 'big-source.tif');
    const content = randomBytes(21 * 1024 * 1024 + 123); // more than one 16 MiB multipart part
    fs.writeFileSync(source, content);
    const info = await store().putFile('contract/big/scene.tif', source, { contentType: 'image/tiff' });
    expect(info.size).toBe(content.length);
    const stat = await store().stat('contract/big/scene.tif');
    expect(stat?.size).toBe(content.length);
    expect(stat?.contentType).toBe('image/tiff');

    const target = path.join(scratch, 'nested', 'dirs', 'downloaded.tif');
    await store().downloadToFile('contract/big/scene.tif', target);
    expect(await fileSha256(target)).toBe(sha256(content));
    expect(fs.readdirSync(path.dirname(target))).toEqual(['downloaded.tif']); // no temp files left
  });

  it('stat and exists', async () => {
    await store().putObject('contract/stat/a.json', Buffer.from('{"a":1}'));
    const info = await store().stat('contract/stat/a.json');
    expect(info).toMatchObject({ key: 'contract/stat/a.json', size: 7 });
    expect(Math.abs(info!.lastModified.getTime() - Date.now())).toBeLessThan(5 * 60_000);
    expect(await store().exists('contract/stat/a.json')).toBe(true);
    expect(await store().stat('contract/stat/missing.json')).toBeUndefined();
    expect(await store().exists('contract/stat/missing.json')).toBe(false);
    // A "directory" is not an object.
    expect(await store().stat('contract/stat')).toBeUndefined();
    expect(await store().exists('contract/stat')).toBe(false);
  });

  it('lists by prefix, recursively and sorted, without other prefixes', async () => {
    const keys = [
      'list/a/2/x.tif',
      'list/a/1.json',
      'list/a/10.json',
      'list/ab.json',
      'list/b/1.json',
      'list/a/2/y/z.png',
    ];
    for (const key of keys) await store().putObject(key, Buffer.from(key));
    const listed = await store().list('list/a/');
    expect(listed.map((o) => o.key)).toEqual(['list/a/1.json', 'list/a/10.json', 'list/a/2/x.tif', 'list/a/2/y/z.png']);
    expect(listed[0]).toMatchObject({ key: 'list/a/1.json', size: 'list/a/1.json'.length });
    expect(listed[0].lastModified).toBeInstanceOf(Date);
    // A prefix is a string prefix, not a directory: 'list/a' also matches 'list/ab.json'.
    expect((await store().list('list/a')).map((o) => o.key)).toContain('list/ab.json');
    expect((await store().list('list/')).map((o) => o.key)).toEqual([...keys].sort());
    expect(await store().list('list/nothing/')).toEqual([]);
    expect((await store().list('')).map((o) => o.key)).toEqual(expect.arrayContaining(keys));
  });

  it('deletes objects and prefixes', async () => {
    await store().putObject('del/one.txt', Buffer.from('1'));
    await store().deleteObject('del/one.txt');
    expect(await store().exists('del/one.txt')).toBe(false);
    await store().deleteObject('del/one.txt'); // missing: not an error

    const keys = ['del/p/a.txt', 'del/p/b/c.txt', 'del/p/b/d/e.txt'];
    for (const key of keys) await store().putObject(key, Buffer.from(key));
    await store().putObject('del/pq.txt', Buffer.from('keep (shares the string prefix del/p but not del/p/)'));
    await store().putObject('del/other/keep.txt', Buffer.from('keep'));
    expect(await store().deletePrefix('del/p/')).toBe(3);
    expect(await store().list('del/p/')).toEqual([]);
    expect((await store().list('del/')).map((o) => o.key)).toEqual(['del/other/keep.txt', 'del/pq.txt']);
    expect(await store().deletePrefix('del/p/')).toBe(0);
  });

  it('throws ObjectNotFoundError for missing objects', async () => {
    await expect(store().getObject('contract/missing.bin')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store().getStream('contract/missing.bin')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(
      store().downloadToFile('contract/missing.bin', path.join(scratch, 'missing.bin')),
    ).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(fs.existsSync(path.join(scratch, 'missing.bin'))).toBe(false);
  });

  it('getRange returns the bytes of a range, what exists of a range past the end, and nothing from the end on', async () => {
    const content = randomBytes(3 * 1024 * 1024 + 77);
    await store().putObject('contract/range/scene.bin', content);
    const range = (start: number, length: number) => store().getRange('contract/range/scene.bin', start, length);
    expect((await range(0, 16)).equals(content.subarray(0, 16))).toBe(true);
    expect((await range(1_000_003, 2_000_001)).equals(content.subarray(1_000_003, 3_000_004))).toBe(true);
    expect((await range(content.length - 1, 1)).equals(content.subarray(content.length - 1))).toBe(true);
    expect((await range(content.length - 10, 100)).equals(content.subarray(content.length - 10))).toBe(true);
    expect((await range(content.length, 10)).length).toBe(0);
    expect((await range(content.length + 5000, 10)).length).toBe(0);
    expect((await range(5, 0)).length).toBe(0);
    expect((await range(0, content.length)).equals(content)).toBe(true);
    await expect(store().getRange('contract/range/missing.bin', 0, 10)).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store().getRange('contract/range/missing.bin', 0, 0)).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store().getRange('contract/range', 0, 10)).rejects.toBeInstanceOf(ObjectNotFoundError); // a "directory"
    await expect(range(-1, 10)).rejects.toBeInstanceOf(RangeError);
    await expect(range(0, 1.5)).rejects.toBeInstanceOf(RangeError);
    await expect(store().getRange('../x', 0, 10)).rejects.toBeInstanceOf(InvalidObjectKeyError);
  });

  it('getRange serves many concurrent ranges of one object', async () => {
    const content = randomBytes(512 * 1024);
    await store().putObject('contract/range/concurrent.bin', content);
    const starts = Array.from({ length: 24 }, (_, i) => i * 21_000);
    const parts = await Promise.all(
      starts.map((start) => store().getRange('contract/range/concurrent.bin', start, 20_000)),
    );
    // Buffer#equals: jest's deep equality walks a large Buffer element by element.
    parts.forEach((part, i) => expect(part.equals(content.subarray(starts[i], starts[i]! + 20_000))).toBe(true));
  });

  it.each(['../x', '/abs', 'a//b', 'a/../b', './a', 'a/', '', 'a\\b'])('rejects the invalid key %j', async (key) => {
    await expect(store().putObject(key, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store().getObject(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store().stat(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store().deleteObject(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store().signedGetUrl(key, 60)).rejects.toBeInstanceOf(InvalidObjectKeyError);
  });

  it('rejects invalid list prefixes', async () => {
    await expect(store().list('../')).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store().list('/abs/')).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await expect(store().deletePrefix('a//')).rejects.toBeInstanceOf(InvalidObjectKeyError);
  });

  describe('signed URLs', () => {
    const key = 'signed/outputs/result mask #1.tif';
    const content = randomBytes(300_000);

    beforeAll(async () => {
      await store().putObject(key, content, { contentType: 'image/tiff' });
    });

    it('lets anyone holding the URL GET the bytes', async () => {
      const url = await store().signedGetUrl(key, 600);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/tiff');
      expect(response.headers.get('content-length')).toBe(String(content.length));
      expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(sha256(content)); // (toEqual on 300 kB is slow)
    });

    it('answers Range requests with 206 and the requested bytes', async () => {
      const url = await store().signedGetUrl(key, 600);
      const response = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
      expect(response.status).toBe(206);
      expect(response.headers.get('content-range')).toBe(`bytes 1000-1999/${content.length}`);
      expect(Buffer.from(await response.arrayBuffer())).toEqual(content.subarray(1000, 2000));

      const suffix = await fetch(url, { headers: { Range: 'bytes=-16' } });
      expect(suffix.status).toBe(206);
      expect(Buffer.from(await suffix.arrayBuffer())).toEqual(content.subarray(content.length - 16));

      const open = await fetch(url, { headers: { Range: `bytes=${content.length - 10}-` } });
      expect(open.status).toBe(206);
      expect(Buffer.from(await open.arrayBuffer())).toEqual(content.subarray(content.length - 10));

      const beyond = await fetch(url, { headers: { Range: `bytes=${content.length}-` } });
      expect(beyond.status).toBe(416);
      await beyond.arrayBuffer();
    });

    it('refuses a tampered signature with 403', async () => {
      const url = new URL(await store().signedGetUrl(key, 600));
      const param = driver === 'minio' ? 'X-Amz-Signature' : 'signature';
      const signature = url.searchParams.get(param)!;
      expect(signature).toMatch(/^[0-9a-f]{64}$/);
      url.searchParams.set(param, `${signature[0] === '0' ? '1' : '0'}${signature.slice(1)}`);
      const response = await fetch(url);
      expect(response.status).toBe(403);
      const text = await response.text();
      if (driver === 'filesystem') {
        expect(JSON.parse(text)).toEqual({
          statusCode: 403,
          error: 'Forbidden',
          message: expect.stringContaining('signature'),
        });
      }
    });

    it('refuses a URL signed for another key', async () => {
      await store().putObject('signed/other.tif', Buffer.from('other'));
      const url = new URL(await store().signedGetUrl(key, 600));
      const other = new URL(await store().signedGetUrl('signed/other.tif', 600));
      other.search = url.search; // the signature of `key`, presented for signed/other.tif
      const response = await fetch(other);
      expect(response.status).toBe(403);
      await response.arrayBuffer();
    });

    it('refuses an expired URL', async () => {
      const url = await store().signedGetUrl(key, 1);
      await sleep(2_500);
      const response = await fetch(url);
      expect(response.status).toBe(403);
      const text = await response.text();
      if (driver === 'filesystem')
        expect(JSON.parse(text)).toMatchObject({ statusCode: 403, message: expect.stringContaining('expired') });
    });

    it('rejects expiries outside 1 s .. 7 days', async () => {
      await expect(store().signedGetUrl(key, 0)).rejects.toThrow(/between 1 and 604800/);
      await expect(store().signedGetUrl(key, 7 * 24 * 3600 + 1)).rejects.toThrow(/between 1 and 604800/);
      await expect(store().signedGetUrl(key, 1.5)).rejects.toThrow(RangeError);
      await expect(store().signedGetUrl(key, 7 * 24 * 3600)).resolves.toMatch(/^http/);
    });

    it('answers 404 for a validly signed URL of a missing object', async () => {
      const url = await store().signedGetUrl('signed/never-written.tif', 600);
      const response = await fetch(url);
      expect(response.status).toBe(404);
      await response.arrayBuffer();
    });
  });
});

describe('FilesystemObjectStore specifics', () => {
  let dataDir: string;
  let store: FilesystemObjectStore;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-fs-'));
    store = createObjectStore(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir })) as FilesystemObjectStore;
    await store.ensureReady();
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('persists a generated signing secret with mode 0600', () => {
    const file = path.join(dataDir, URL_SIGNING_SECRET_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
  });

  it('removes directories emptied by deletes, but never the root', async () => {
    await store.putObject('tree/a/b/c.txt', Buffer.from('c'));
    await store.putObject('tree/a/keep.txt', Buffer.from('k'));
    expect(await store.deletePrefix('tree/a/b/')).toBe(1);
    expect(fs.existsSync(path.join(store.rootDir, 'tree/a/b'))).toBe(false);
    expect(fs.existsSync(path.join(store.rootDir, 'tree/a'))).toBe(true);
    await store.deleteObject('tree/a/keep.txt');
    expect(fs.existsSync(path.join(store.rootDir, 'tree'))).toBe(false);
    expect(await store.deletePrefix('')).toBe(0);
    expect(fs.existsSync(store.rootDir)).toBe(true);
  });

  it('never lists in-flight temp files and leaves none after a failed write', async () => {
    const dir = path.join(store.rootDir, 'tmp-check');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.put-0123456789abcdef.partial'), 'half');
    await store.putObject('tmp-check/real.txt', Buffer.from('real'));
    expect((await store.list('tmp-check/')).map((o) => o.key)).toEqual(['tmp-check/real.txt']);
    await expect(store.putObject('tmp-check/.put-0123456789abcdef.partial', Buffer.from('x'))).rejects.toBeInstanceOf(
      InvalidObjectKeyError,
    );

    const failing = Readable.from(
      (async function* () {
        yield Buffer.from('partial data');
        throw new Error('boom');
      })(),
    );
    await expect(store.putObject('tmp-check/failed.txt', failing)).rejects.toThrow('boom');
    expect(fs.readdirSync(dir).sort()).toEqual(['.put-0123456789abcdef.partial', 'real.txt']);
  });

  it('keeps resolved paths inside the root', () => {
    expect(store.pathOf('a/b.txt')).toBe(path.join(store.rootDir, 'a', 'b.txt'));
    expect(() => store.pathOf('../outside')).toThrow(InvalidObjectKeyError);
  });

  it('refuses a key nested under an existing object with a clear error', async () => {
    await store.putObject('nest/file', Buffer.from('f'));
    await expect(store.putObject('nest/file/child', Buffer.from('c'))).rejects.toBeInstanceOf(InvalidObjectKeyError);
    await store.putObject('nest2/dir/child', Buffer.from('c'));
    await expect(store.putObject('nest2/dir', Buffer.from('d'))).rejects.toBeInstanceOf(InvalidObjectKeyError);
  });
});
