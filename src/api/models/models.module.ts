import * as os from 'node:os';
import { Module } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import { diskStorage } from 'multer';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

@Module({
  imports: [
    // Model files can be GBs: multer streams them to a temp file, never into memory.
    MulterModule.registerAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        storage: diskStorage({ destination: os.tmpdir() }),
        // The model file and an optional golden pair (input and expected output).
        limits: { fileSize: config.MODEL_MAX_BYTES, fields: 10, files: 3 },
      }),
    }),
  ],
  controllers: [ModelsController],
  providers: [ModelsService],
  exports: [ModelsService],
})
export class ModelsModule {}
