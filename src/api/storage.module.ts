import { Global, Module } from '@nestjs/common';
import type { AppConfig } from '../platform/config/config';
import { APP_CONFIG } from './config.module';
import { createObjectStore } from '../platform/storage/create-object-store';
import type { ObjectStore } from '../platform/storage/object-store';
import { SignedFilesController } from './files/signed-files.controller';
import { OBJECT_STORE } from '../platform/storage/tokens';

export { OBJECT_STORE } from '../platform/storage/tokens';

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
