import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createApiApp } from './app';
import { loadConfig } from './platform/config/config';
import { configureLogging, PinoNestLogger, type AppLogLevel } from './platform/logging/logger';
import { startEmbeddedStack } from './launcher';
import type { ObjectStore } from './platform/storage/object-store';
import { OBJECT_STORE } from './api/storage.module';
import { createPipelineWorkers, type PipelineWorkers } from './pipeline/worker';
import { installTemporalRuntime } from './platform/temporal/runtime';

/**
 * `npm start`: API + worker + whatever services are not configured (embedded DB, Temporal dev server).
 * In production run API (RUN_WORKER=false) and workers (`npm run start:worker`) as separate processes.
 */
async function main(): Promise<void> {
  const initial = loadConfig();
  // JSON from the first line on (the launcher logs before the app and its nestjs-pino logger exist).
  Logger.overrideLogger(new PinoNestLogger(configureLogging(initial.LOG_LEVEL as AppLogLevel)));
  const logger = new Logger('Main');
  // Before the embedded dev server and the first worker connection, either of which creates the Temporal
  // runtime for good: SDK logs through pino, worker metrics if configured.
  if ((initial.RUN_WORKER ?? true) || !initial.TEMPORAL_ADDRESS) installTemporalRuntime(initial);
  const stack = await startEmbeddedStack(initial);
  Object.assign(process.env, stack.env);
  const config = loadConfig();
  if (!process.env.API_KEYS && !process.env.ADMIN_API_KEYS)
    logger.warn(
      'API_KEYS is not set: using the development admin key "dev-key" (user dev@localhost). Set API_KEYS and ADMIN_API_KEYS in any shared deployment.',
    );

  const app = await createApiApp();
  await app.listen(config.PORT, '0.0.0.0');
  logger.log(
    `API listening on ${config.publicBaseUrl} (routes under /api/v2, health at /api/health, metrics at /metrics, docs at /docs)`,
  );

  let workers: PipelineWorkers | undefined;
  let workerRun: Promise<void> | undefined;
  const runWorker = config.RUN_WORKER ?? true;
  if (runWorker) {
    workers = await createPipelineWorkers({
      config,
      dataSource: app.get(DataSource),
      store: app.get<ObjectStore>(OBJECT_STORE),
    });
    workerRun = workers.run();
    logger.log(`worker polling task queue(s) ${workers.taskQueues.map((queue) => `"${queue}"`).join(', ')}`);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down (running activities get the worker's grace time)`);
    workers?.shutdown();
    await workerRun?.catch(() => undefined);
    await app.close();
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: Error) => {
  new Logger('Main').error(error.stack ?? error.message);
  process.exit(1);
});
