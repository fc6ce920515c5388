import { Logger } from '@nestjs/common';
import type { Worker } from '@temporalio/worker';
import { DataSource } from 'typeorm';
import { createApiApp } from './app';
import { loadConfig } from './config/config';
import { startEmbeddedStack } from './launcher';
import type { ObjectStore } from './storage/object-store';
import { OBJECT_STORE } from './storage/storage.module';
import { createPipelineWorker } from './temporal/pipeline-worker';

/**
 * `npm start`: API + worker + whatever services are not configured (embedded DB, Temporal dev server).
 * In production run API (RUN_WORKER=false) and workers (`npm run start:worker`) as separate processes.
 */
async function main(): Promise<void> {
  const logger = new Logger('Main');
  const initial = loadConfig();
  const stack = await startEmbeddedStack(initial);
  Object.assign(process.env, stack.env);
  const config = loadConfig();
  if (!process.env.API_KEYS) logger.warn('API_KEYS is not set: using the development key "dev-key" (user dev@localhost). Set API_KEYS in any shared deployment.');

  const app = await createApiApp();
  await app.listen(config.PORT, '0.0.0.0');
  logger.log(`API listening on ${config.publicBaseUrl} (routes under /api/v2, health at /api/health)`);

  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  const runWorker = config.RUN_WORKER ?? true;
  if (runWorker) {
    const created = await createPipelineWorker({ config, dataSource: app.get(DataSource), store: app.get<ObjectStore>(OBJECT_STORE) });
    worker = created.worker;
    workerRun = worker.run();
    logger.log(`worker polling task queue "${config.TEMPORAL_TASK_QUEUE}"`);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down (running activities get the worker's grace time)`);
    worker?.shutdown();
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
