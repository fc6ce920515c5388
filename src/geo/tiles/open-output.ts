import { fromFile, fromUrl, type GeoTIFF } from 'geotiff';
import { FilesystemObjectStore } from '../../platform/storage/filesystem-object-store';
import type { ObjectStore } from '../../platform/storage/object-store';

/** Signed URLs handed to geotiff.js for range reads of MinIO/S3 objects; opened rasters are renewed well before. */
export const SOURCE_URL_SECONDS = 60 * 60;

/**
 * Opens a stored GeoTIFF for windowed reading without copying it: the file itself with the filesystem
 * store, else HTTP range requests on a signed URL (only headers and the blocks read are transferred).
 */
export async function openStoredGeoTiff(store: ObjectStore, key: string): Promise<GeoTIFF> {
  if (store instanceof FilesystemObjectStore) return fromFile(store.pathOf(key));
  return fromUrl(await store.signedGetUrl(key, SOURCE_URL_SECONDS), { allowFullFile: false });
}
