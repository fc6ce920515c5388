import { Global, Module } from '@nestjs/common';
import { loadConfig } from '../platform/config/config';

/** Injection token of the validated AppConfig (see config.ts). */
export const APP_CONFIG = 'APP_CONFIG';

/** Loads and validates the configuration once from process.env and makes it injectable everywhere. */
@Global()
@Module({
  providers: [{ provide: APP_CONFIG, useFactory: () => loadConfig() }],
  exports: [APP_CONFIG],
})
export class ConfigModule {}
