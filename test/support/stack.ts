import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { bundleWorkflowCode } from '@temporalio/worker';
import { DataSource } from 'typeorm';
import { createApiApp } from '../../src/app';
import { loadConfig, type AppConfig } from '../../src/platform/config/config';
import type { ObjectStore } from '../../src/platform/storage/object-store';
import { OBJECT_STORE } from '../../src/api/storage.module';
import { createPipelineWorkers, type PipelineWorkers, workflowsPath } from '../../src/pipeline/worker';
import { requiredEnv } from './services';
import { freePort } from '../../src/platform/free-port';
export { freePort } from '../../src/platform/free-port';

export const USERS = {
  alice: { key: 'test-key-alice-0123456789', email: 'alice@example.com' },
  bob: { key: 'test-key-bob-0123456789', email: 'bob@example.com' },
};

let workflowBundle: Promise<{ code: string }> | undefined;
/** Bundling workflows takes seconds: once per test file. */
export function sharedWorkflowBundle(): Promise<{ code: string }> {
  workflowBundle ??= bundleWorkflowCode({
    workflowsPath: workflowsPath(),
    logger: { log() {}, info() {}, warn() {}, error() {}, debug() {}, trace() {} } as never,
  });
  return workflowBundle;
}

export interface TestStack {
  baseUrl: string;
  config: AppConfig;
  app: INestApplication;
  dataSource: DataSource;
  store: ObjectStore;
  taskQueue: string;
  env: Record<string, string>;
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The API on a real port against the real PostgreSQL, Temporal dev server and MinIO (or the filesystem
 * store), with its own task queue so test files never steal each other's work.
 */
export async function startTestStack(
  options: { storage?: 'minio' | 'filesystem'; worker?: boolean; env?: Record<string, string> } = {},
): Promise<TestStack> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-test-'));
  const taskQueue = options.env?.TEMPORAL_TASK_QUEUE ?? `test-${randomUUID().slice(0, 8)}`;
  const storage = options.storage ?? 'minio';
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    DATA_DIR: dataDir,
    API_KEYS: Object.values(USERS)
      .map((user) => `${user.key}:${user.email}`)
      .join(','),
    DATABASE_URL: requiredEnv('DATABASE_URL'),
    TEMPORAL_ADDRESS: requiredEnv('TEMPORAL_ADDRESS'),
    TEMPORAL_TASK_QUEUE: taskQueue,
    STORAGE_DRIVER: storage,
    STORAGE_BUCKET: 'geo-inference-test',
    INFERENCE_BATCH_SIZE: '4',
    // JSON request and activity log lines only when a test asks for them (options.env.LOG_LEVEL); errors always.
    LOG_LEVEL: 'error',
    ...(storage === 'minio'
      ? {
          MINIO_ENDPOINT: requiredEnv('MINIO_ENDPOINT'),
          MINIO_ACCESS_KEY: requiredEnv('MINIO_ACCESS_KEY'),
          MINIO_SECRET_KEY: requiredEnv('MINIO_SECRET_KEY'),
        }
      : {}),
    ...options.env,
  };
  Object.assign(process.env, env);
  const config = loadConfig();
  const app = await createApiApp({ logger: ['error', 'warn'] });
  await app.listen(port, '127.0.0.1');
  const dataSource = app.get(DataSource);
  const store = app.get<ObjectStore>(OBJECT_STORE);
  await store.ensureReady();

  let workers: PipelineWorkers | undefined;
  let workerRun: Promise<void> | undefined;
  const stack: TestStack = {
    baseUrl: `http://127.0.0.1:${port}`,
    config,
    app,
    dataSource,
    store,
    taskQueue,
    env,
    async startWorker() {
      workers = await createPipelineWorkers({
        config,
        dataSource,
        store,
        workflowBundle: await sharedWorkflowBundle(),
      });
      workerRun = workers.run();
    },
    async stopWorker() {
      workers?.shutdown();
      await workerRun?.catch(() => undefined);
      workers = undefined;
    },
    async stop() {
      await stack.stopWorker();
      await app.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  if (options.worker ?? true) await stack.startWorker();
  return stack;
}
