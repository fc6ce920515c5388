import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Client, Connection } from '@temporalio/client';
import type { AppConfig } from '../platform/config/config';
import { APP_CONFIG } from './config.module';
import { startTracing, temporalClientInterceptors } from '../platform/tracing/tracing';

export const TEMPORAL_CLIENT = 'TEMPORAL_CLIENT';

@Global()
@Module({
  providers: [
    {
      provide: TEMPORAL_CLIENT,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<Client> => {
        if (!config.TEMPORAL_ADDRESS)
          throw new Error('TEMPORAL_ADDRESS is not set (the launcher sets it when it starts the dev server)');
        const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
        startTracing(config);
        return new Client({
          connection,
          namespace: config.TEMPORAL_NAMESPACE,
          interceptors: temporalClientInterceptors(config),
        });
      },
    },
  ],
  exports: [TEMPORAL_CLIENT],
})
export class TemporalModule implements OnApplicationShutdown {
  constructor(@Inject(TEMPORAL_CLIENT) private readonly client: Client) {}

  async onApplicationShutdown(): Promise<void> {
    await this.client.connection.close();
  }
}
