import type { AppConfig } from '../config/config';
import { FilesystemObjectStore, resolveUrlSigningSecret } from './filesystem-object-store';
import { MinioObjectStore } from './minio-object-store';
import type { ObjectStore } from './object-store';

/**
 * Builds the ObjectStore chosen by STORAGE_DRIVER. Used by the API's StorageModule and by the
 * standalone Temporal worker. Does not call ensureReady().
 */
export function createObjectStore(config: AppConfig): ObjectStore {
  switch (config.STORAGE_DRIVER) {
    case 'minio': {
      if (!config.MINIO_ENDPOINT || !config.MINIO_ACCESS_KEY || !config.MINIO_SECRET_KEY) {
        throw new Error('STORAGE_DRIVER=minio needs MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY');
      }
      return new MinioObjectStore({
        endpoint: config.MINIO_ENDPOINT,
        accessKey: config.MINIO_ACCESS_KEY,
        secretKey: config.MINIO_SECRET_KEY,
        bucket: config.STORAGE_BUCKET,
        region: config.MINIO_REGION,
      });
    }
    case 'filesystem':
      return new FilesystemObjectStore({
        rootDir: config.storageDir,
        publicBaseUrl: config.publicBaseUrl,
        signingSecret: resolveUrlSigningSecret(config),
      });
    default: {
      const driver: never = config.STORAGE_DRIVER;
      throw new Error(`unknown STORAGE_DRIVER ${String(driver)}`);
    }
  }
}
