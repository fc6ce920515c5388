import { Logger } from '@nestjs/common';
import { loadConfig } from './config/config';
import { openDataSource } from './database/data-source';
import { createObjectStore } from './storage/storage.module';
import { createPipelineWorkers } from './temporal/pipeline-worker';

/** Standalone worker process (`npm run start:worker`): runs workflows and activities, no HTTP API. */
async function main(): Promise<void> {
  const logger = new Logger('Worker');
  const config = loadConfig();
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS) throw new Error('a standalone worker needs DATABASE_URL and TEMPORAL_ADDRESS');
  const dataSource = await openDataSource(config.DATABASE_URL, config.DATABASE_POOL_SIZE);
  const store = createObjectStore(config);
  await store.ensureReady();
  const workers = await createPipelineWorkers({ config, dataSource, store });
  const stop = (signal: string) => {
    logger.log(`${signal}: draining (running activities get the grace time)`);
    workers.shutdown();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  logger.log(`roles ${config.WORKER_ROLES}: polling task queue(s) ${workers.taskQueues.map((queue) => `"${queue}"`).join(', ')} on ${config.TEMPORAL_ADDRESS}`);
  await workers.run();
  await workers.connection.close();
  await dataSource.destroy();
}

main().catch((error: Error) => {
  new Logger('Worker').error(error.stack ?? error.message);
  process.exit(1);
});
