import { Global, Module } from '@nestjs/common';
import type { AppConfig } from '../platform/config/config';
import { APP_CONFIG } from './config.module';
import { FilesystemObjectStore, resolveUrlSigningSecret } from '../platform/storage/filesystem-object-store';
import { MinioObjectStore } from '../platform/storage/minio-object-store';
import type { ObjectStore } from '../platform/storage/object-store';
import { SignedFilesController } from './files/signed-files.controller';
import { OBJECT_STORE } from '../platform/storage/tokens';

export { OBJECT_STORE } from '../platform/storage/tokens';

/**
 * Builds the ObjectStore chosen by STORAGE_DRIVER. Used by StorageModule and by non-Nest code (the
 * standalone Temporal worker). Does not call ensureReady().
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

/**
 * Provides OBJECT_STORE everywhere (bucket / root directory made ready at start-up) and the
 * GET /files/* route that serves signed URLs of the filesystem store (404 with the minio driver).
 */
@Global()
@Module({
  controllers: [SignedFilesController],
  providers: [
    {
      provide: OBJECT_STORE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<ObjectStore> => {
        const store = createObjectStore(config);
        await store.ensureReady();
        return store;
      },
    },
  ],
  exports: [OBJECT_STORE],
})
export class StorageModule {}
