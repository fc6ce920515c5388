import { loadConfig } from './platform/config/config';
import { openDataSource } from './platform/database/data-source';
import { configureLogging, rootLogger, type AppLogLevel } from './platform/logging/logger';
import { serveMetrics } from './platform/metrics/metrics-server';
import { createObjectStore } from './platform/storage/create-object-store';
import { createPipelineWorkers } from './pipeline/worker';
import { installTemporalRuntime } from './platform/temporal/runtime';

/** Standalone worker process (`npm run start:worker`): runs workflows and activities, no HTTP API. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = configureLogging(config.LOG_LEVEL as AppLogLevel).child({ component: 'worker' });
  // Before the first NativeConnection: the runtime is fixed once created.
  installTemporalRuntime(config);
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS)
    throw new Error('a standalone worker needs DATABASE_URL and TEMPORAL_ADDRESS');
  const dataSource = await openDataSource(
    config.DATABASE_URL,
    config.DATABASE_POOL_SIZE,
    config.DATABASE_CONNECT_TIMEOUT_MS,
  );
  const store = createObjectStore(config);
  await store.ensureReady();
  const metricsServer = config.WORKER_METRICS_PORT ? await serveMetrics(config.WORKER_METRICS_PORT) : undefined;
  if (metricsServer) logger.info(`step/task metrics on :${config.WORKER_METRICS_PORT}/metrics`);
  if (config.TEMPORAL_METRICS_BIND_ADDRESS)
    logger.info(`Temporal SDK metrics on ${config.TEMPORAL_METRICS_BIND_ADDRESS}/metrics`);
  const workers = await createPipelineWorkers({ config, dataSource, store });
  const stop = (signal: string) => {
    logger.info(`${signal}: draining (running activities get the grace time)`);
    workers.shutdown();
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  logger.info(
    `roles ${config.WORKER_ROLES}: polling task queue(s) ${workers.taskQueues.map((queue) => `"${queue}"`).join(', ')} on ${config.TEMPORAL_ADDRESS}`,
  );
  await workers.run();
  metricsServer?.close();
  await workers.connection.close();
  await dataSource.destroy();
}

main().catch((error: Error) => {
  rootLogger().fatal({ err: error }, 'worker failed');
  process.exit(1);
});
