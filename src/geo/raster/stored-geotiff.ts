import type { GeoTIFF } from 'geotiff';
import { openStoredGeoTiff } from '../tiles/open-output';
import { ObjectNotFoundError, type ObjectStore } from '../../platform/storage/object-store';
import { asInvalid, InvalidGeoTiffError } from './invalid-geotiff';
import { checkTiffHeaderBytes, inspectOpenedGeoTiff, type GeoTiffSummary, type InspectOptions } from './inspect';

/**
 * inspectGeoTiff for an object already in storage, reading only its headers (ranged reads of MinIO/S3, or
 * the file of the filesystem store): checking an uploaded 500 KB tile then costs a HEAD and one small read
 * instead of downloading it. Throws ObjectNotFoundError when the object is missing.
 */
export async function inspectStoredGeoTiff(
  store: ObjectStore,
  key: string,
  options: InspectOptions = {},
): Promise<GeoTiffSummary & { bytes: number }> {
  const info = await store.stat(key);
  if (!info) throw new ObjectNotFoundError(key);
  if (info.size === 0) throw new InvalidGeoTiffError('the file is empty');
  let tiff: GeoTIFF;
  try {
    tiff = await openStoredGeoTiff(store, key);
  } catch (error) {
    // Say what the file is instead of a TIFF, from its first bytes (read only on this path).
    checkTiffHeaderBytes(await firstBytes(store, key, 16), info.size);
    throw asInvalid(error, key);
  }
  try {
    return { ...(await inspectOpenedGeoTiff(tiff, info.size, key, options)), bytes: info.size };
  } finally {
    await tiff.close();
  }
}

async function firstBytes(store: ObjectStore, key: string, count: number): Promise<Buffer> {
  const stream = await store.getStream(key);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= count) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, count);
}
