import * as fs from 'node:fs';
import * as path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { DataSource } from 'typeorm';
import { createActivities } from '../../activities';
import { BuiltInPublisher } from '../../activities/lib/publisher';
import type { AppConfig } from '../config/config';
import type { ObjectStore } from '../storage/object-store';

export interface PipelineWorkerOptions {
  config: AppConfig;
  dataSource: DataSource;
  store: ObjectStore;
  connection?: NativeConnection;
  taskQueue?: string;
  /** Pre-built workflow bundle (tests build it once); otherwise the worker bundles workflows/ itself. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export function workflowsPath(): string {
  // Resolves to workflows/index.ts under ts-jest and dist/workflows/index.js in the built app.
  return require.resolve(path.join(__dirname, '..', '..', 'workflows'));
}

/** Where `npm run build` writes the pre-bundled workflow code (dist/workflow-bundle.js). */
export function workflowBundlePath(): string {
  return path.join(__dirname, '..', '..', 'workflow-bundle.js');
}

/** A worker that runs the inference workflow and every pipeline activity on one task queue. */
export async function createPipelineWorker(options: PipelineWorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  const { config } = options;
  const connection = options.connection ?? (await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }));
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: options.taskQueue ?? config.TEMPORAL_TASK_QUEUE,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : fs.existsSync(workflowBundlePath())
        ? { workflowBundle: { codePath: workflowBundlePath() } }
        : { workflowsPath: workflowsPath() }),
    activities: createActivities({ config, dataSource: options.dataSource, store: options.store, publisher: new BuiltInPublisher() }),
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    // Cancellation reaches an activity with a heartbeat response; sending heartbeats at most 2 s apart
    // (instead of 80% of the heartbeat timeout) makes a stop take effect within seconds.
    maxHeartbeatThrottleInterval: '2 seconds',
    // Give running activities time to heartbeat and finish on SIGTERM before the process exits.
    shutdownGraceTime: '20 seconds',
  });
  return { worker, connection };
}
