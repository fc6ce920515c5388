import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidGeoTiffError } from '../../src/geo/raster/invalid-geotiff';
import { inspectGeoTiff } from '../../src/geo/raster/inspect';
import { inspectStoredGeoTiff } from '../../src/geo/raster/stored-geotiff';
import { loadConfig } from '../../src/platform/config/config';
import { MinioObjectStore } from '../../src/platform/storage/minio-object-store';
import { ObjectNotFoundError, type ObjectStore } from '../../src/platform/storage/object-store';
import { createObjectStore } from '../../src/platform/storage/create-object-store';
import { requiredEnv } from '../support/services';

/**
 * The data-fetch check of uploaded files, reading only headers from storage (ranged reads on MinIO, the
 * file itself on the filesystem store): the same summary and the same readable reasons as the local check.
 */
const fixture = path.join(__dirname, '..', 'fixtures', 'raster-deflate-pred2-tiled.tif');

describe.each(['minio', 'filesystem'] as const)('inspectStoredGeoTiff (%s)', (driver) => {
  let store: ObjectStore;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stored-geotiff-'));
    store =
      driver === 'minio'
        ? new MinioObjectStore({
            endpoint: requiredEnv('MINIO_ENDPOINT'),
            accessKey: requiredEnv('MINIO_ACCESS_KEY'),
            secretKey: requiredEnv('MINIO_SECRET_KEY'),
            bucket: `inspect-${randomBytes(4).toString('hex')}`,
          })
        : createObjectStore(
            loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, STORAGE_DRIVER: 'filesystem', PORT: '0' }),
          );
    await store.ensureReady();
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('summarises a stored GeoTIFF exactly as the local check does, with its size', async () => {
    await store.putFile('in/scene.tif', fixture);
    const stored = await inspectStoredGeoTiff(store, 'in/scene.tif');
    expect(stored).toEqual({ ...(await inspectGeoTiff(fixture)), bytes: fs.statSync(fixture).size });
  });

  it.each([
    ['not a TIFF', Buffer.from('not a tiff at all, just some text'), /^not a TIFF file \(starts with "not "\)$/],
    ['empty', Buffer.alloc(0), /^the file is empty$/],
    ['truncated', fs.readFileSync(fixture).subarray(0, 3000), /truncated/],
  ])('refuses a %s file with a readable reason', async (_label, body, reason) => {
    const key = `in/bad-${randomBytes(3).toString('hex')}.tif`;
    await store.putObject(key, body);
    const error = await inspectStoredGeoTiff(store, key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidGeoTiffError);
    expect((error as Error).message).toMatch(reason);
  });

  it('reports a missing object as such', async () => {
    await expect(inspectStoredGeoTiff(store, 'in/missing.tif')).rejects.toBeInstanceOf(ObjectNotFoundError);
  });
});
