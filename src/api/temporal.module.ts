import { Global, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Client, Connection } from '@temporalio/client';
import type { AppConfig } from '../platform/config/config';
import { APP_CONFIG } from './config.module';
import { startTracing, temporalClientInterceptors } from '../platform/tracing/tracing';
import { PipelineClient } from '../pipeline/client';
import { createdByAttribute, temporalDataConverter } from '../platform/temporal/payload-codec';

/** The Temporal client under PipelineClient; the rest of the API uses PipelineClient. */
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
          dataConverter: temporalDataConverter(config),
        });
      },
    },
    {
      provide: PipelineClient,
      inject: [TEMPORAL_CLIENT, APP_CONFIG],
      useFactory: (client: Client, config: AppConfig) =>
        new PipelineClient(client, {
          taskQueue: config.TEMPORAL_TASK_QUEUE,
          namespace: config.TEMPORAL_NAMESPACE,
          searchAttributes: config.TEMPORAL_SEARCH_ATTRIBUTES,
          address: config.TEMPORAL_ADDRESS!,
          startTimeoutMs: config.TEMPORAL_START_TIMEOUT_MS,
          createdByAttribute: (email) => createdByAttribute(config, email),
        }),
    },
  ],
  exports: [PipelineClient],
})
export class TemporalModule implements OnApplicationShutdown {
  constructor(private readonly pipeline: PipelineClient) {}

  async onApplicationShutdown(): Promise<void> {
    await this.pipeline.close();
  }
}
