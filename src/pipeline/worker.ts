import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { DataSource } from 'typeorm';
import { type ActivityDeps, createActivities, type PipelineActivities, StepFailureInterceptor } from '../../activities';
import type { Context } from '@temporalio/activity';
import { activitiesByRole } from '../../workflows/contract/steps';
import { createProcessorRuntime } from '../../activities/generic-processor';
import { GeoServerPublisher } from '../geo/publish/geoserver-publisher';
import { ModelThreadPool } from '../geo/model/model-thread';
import { BuiltInPublisher, type MapPublisher } from '../geo/publish/publisher';
import type { AppConfig } from '../platform/config/config';
import { startTracing } from '../platform/tracing/tracing';
import { activityLoggingInterceptor } from '../platform/logging/activity-logging';
import { temporalDataConverter } from '../platform/temporal/payload-codec';
import type { ObjectStore } from '../platform/storage/object-store';

export interface PipelineWorkerOptions {
  config: AppConfig;
  dataSource: DataSource;
  store: ObjectStore;
  connection?: NativeConnection;
  /** Pre-built workflow bundle (tests build it once); otherwise the pre-built file or workflows/ itself. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export type WorkerRole = 'workflows' | 'fetch' | 'model' | 'processor';

/**
 * Which activities each role runs, from the step registry: each step's activities on its step's role;
 * `workflows` also runs the workflows and the light bookkeeping activities.
 */
const ROLE_ACTIVITIES: Record<WorkerRole, Array<keyof PipelineActivities>> = activitiesByRole();

export function workflowsPath(): string {
  // Resolves to workflows/index.ts under ts-jest and dist/workflows/index.js in the built app.
  return require.resolve(path.join(__dirname, '..', '..', 'workflows'));
}

/** Where `npm run build` writes the pre-bundled workflow code (dist/workflow-bundle.js). */
export function workflowBundlePath(): string {
  return path.join(__dirname, '..', '..', 'workflow-bundle.js');
}

/** GeoServer REST publishing when GEOSERVER_URL is set, else the built-in publisher. */
export function createPublisher(config: AppConfig, store: ObjectStore): MapPublisher {
  if (!config.GEOSERVER_URL) return new BuiltInPublisher(store);
  return new GeoServerPublisher(
    {
      url: config.GEOSERVER_URL,
      user: config.GEOSERVER_USER,
      password: config.GEOSERVER_PASSWORD ?? '',
      timeoutMs: config.GEOSERVER_TIMEOUT_MS,
    },
    store,
  );
}

export function workerRoles(config: AppConfig): WorkerRole[] {
  return config.WORKER_ROLES.split(',').map((role) => role.trim() as WorkerRole);
}

/** The Temporal workers of one process: one per distinct task queue among its roles. */
export class PipelineWorkers {
  constructor(
    readonly workers: Worker[],
    readonly connection: NativeConnection,
    readonly taskQueues: string[],
    /** Built for these workers alone: closed when they stop. */
    private readonly owned: Pick<ActivityDeps, 'processorRuntime' | 'modelThreads'>,
  ) {}

  /** Runs until shutdown; then stops the processor runtime and the model threads (after running activities had their grace time). */
  run(): Promise<void> {
    return Promise.all(this.workers.map((worker) => worker.run()))
      .then(() => undefined)
      .finally(() => Promise.all([this.owned.processorRuntime.close(), this.owned.modelThreads.close()]));
  }

  /** Stops polling; running activities get the grace time to finish or hand over. */
  shutdown(): void {
    for (const worker of this.workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  }
}

/**
 * Workers for the roles in WORKER_ROLES. Data fetch, model inference and Python processing can each have
 * their own task queue (TEMPORAL_*_TASK_QUEUE) and so their own number of worker processes; roles that
 * share a queue share one worker.
 */
export async function createPipelineWorkers(options: PipelineWorkerOptions): Promise<PipelineWorkers> {
  const { config } = options;
  const connection = options.connection ?? (await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }));
  const deps: ActivityDeps = {
    config,
    dataSource: options.dataSource,
    store: options.store,
    publisher: createPublisher(config, options.store),
    processorRuntime: createProcessorRuntime(config, (line) => console.error(`[processor-runtime] ${line}`)),
    modelThreads: new ModelThreadPool(config.MODEL_CONCURRENCY),
  };
  const all = createActivities(deps);
  const byQueue = new Map<string, { workflows: boolean; activities: Partial<PipelineActivities> }>();
  for (const role of workerRoles(config)) {
    const queue = config.taskQueues[role];
    const entry = byQueue.get(queue) ?? { workflows: false, activities: {} };
    if (role === 'workflows') entry.workflows = true;
    for (const name of ROLE_ACTIVITIES[role]) Object.assign(entry.activities, { [name]: all[name] });
    byQueue.set(queue, entry);
  }
  const tracing = startTracing(config);
  // Traced workers bundle the workflows with Temporal's OpenTelemetry workflow interceptors at start-up (the
  // pre-built bundle has none, so untraced workers pay nothing for them).
  const workflowSource = tracing
    ? { workflowsPath: workflowsPath() }
    : options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : fs.existsSync(workflowBundlePath())
        ? { workflowBundle: { codePath: workflowBundlePath() } }
        : { workflowsPath: workflowsPath() };
  const workers: Worker[] = [];
  for (const [taskQueue, entry] of byQueue) {
    workers.push(
      await Worker.create({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue,
        ...(entry.workflows ? workflowSource : {}),
        activities: entry.activities,
        dataConverter: temporalDataConverter(config),
        // JSON log lines with inference id, task id and step for every activity (src/logging).
        interceptors: {
          activity: [
            () => ({ inbound: new StepFailureInterceptor() }),
            activityLoggingInterceptor,
            ...(tracing ? [(ctx: Context) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx) })] : []),
          ],
          ...(tracing && entry.workflows
            ? { workflowModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')] }
            : {}),
        },
        ...(tracing ? { sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } } : {}),
        maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
        // Cancellation reaches an activity with a heartbeat response; sending heartbeats at most 2 s apart
        // (instead of 80% of the heartbeat timeout) makes a stop take effect within seconds.
        maxHeartbeatThrottleInterval: '2 seconds',
        // Give running activities time to heartbeat and finish on SIGTERM before the process exits.
        shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE_SECONDS * 1000,
      }),
    );
  }
  return new PipelineWorkers(workers, connection, [...byQueue.keys()], deps);
}
