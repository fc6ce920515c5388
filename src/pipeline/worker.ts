import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { DataSource } from 'typeorm';
import {
  ActivityResilienceInterceptor,
  type ActivityDeps,
  createActivities,
  type PipelineActivities,
  StepFailureInterceptor,
} from '../../activities';
import type { Context } from '@temporalio/activity';
import { activitiesByRole } from '../../workflows/contract/steps';
import { createProcessorRuntime } from '../../activities/generic-processor';
import { trace } from '@opentelemetry/api';
import { In, IsNull, Not } from 'typeorm';
import { WarmProcessors } from '../geo/processors/warm-processors';
import { GenericProcessorEntity } from '../platform/database/entities';
import { recordProcessorCall, recordProcessorExit, recordProcessorSetup } from '../platform/metrics/metrics';
import { type ProcessorStateChange, recordProcessorState } from '../platform/database/processor-states';
import * as os from 'node:os';
import { GeoServerPublisher } from '../geo/publish/geoserver-publisher';
import { ModelThreadPool } from '../geo/model/model-thread';
import { BuiltInPublisher, type MapPublisher } from '../geo/publish/publisher';
import type { AppConfig } from '../platform/config/config';
import { startTracing } from '../platform/tracing/tracing';
import { activityLoggingInterceptor } from '../platform/logging/activity-logging';
import { rootLogger } from '../platform/logging/logger';
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

/** Once per process and reason: the model runs on a later provider of ONNX_EXECUTION_PROVIDERS than the first. */
function warnProviderFallback(message: string): void {
  rootLogger().warn(
    { event: 'execution_provider_fallback' },
    `${message}. Models run on the CPU: for the GPU install the CUDA provider with \`bash scripts/provision.sh gpu\` (or use docker/Dockerfile.worker-gpu) on a machine with an NVIDIA driver; set ONNX_EXECUTION_PROVIDERS=cpu to not try CUDA`,
  );
}

/** The Temporal workers of one process: one per distinct task queue among its roles. */
export class PipelineWorkers {
  constructor(
    readonly workers: Worker[],
    readonly connection: NativeConnection,
    readonly taskQueues: string[],
    /** Built for these workers alone: closed when they stop. */
    private readonly owned: Pick<ActivityDeps, 'processorRuntime' | 'modelThreads' | 'warmProcessors'>,
  ) {}

  /** Runs until shutdown; then stops the processor runtime and the model threads (after running activities had their grace time). */
  run(): Promise<void> {
    return Promise.all(this.workers.map((worker) => worker.run()))
      .then(() => undefined)
      .finally(() =>
        Promise.all([
          // cleanup() of every warm lifecycle processor, then the interpreter that forked them.
          this.owned.warmProcessors.close().finally(() => this.owned.processorRuntime.close()),
          this.owned.modelThreads.close(),
        ]),
      );
  }

  /** Stops polling; running activities get the grace time to finish or hand over. */
  shutdown(): void {
    for (const worker of this.workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  }
}

/** Warm lifecycle processors of this worker, reporting to /metrics, traces and the log. */
function createWarmProcessors(
  config: AppConfig,
  runtime: ReturnType<typeof createProcessorRuntime>,
  dataSource: DataSource,
): WarmProcessors {
  const tracer = trace.getTracer('geo-inference.processors');
  const worker = `${os.hostname()}:${process.pid}`;
  // Shown on GET /api/v2/generic-processor/{id}; a failed write only costs that view its freshness.
  const state = (processorId: string, change: ProcessorStateChange) =>
    void recordProcessorState(dataSource, processorId, worker, change).catch((error: unknown) =>
      console.error(`[processor-runtime] cannot record the state of processor ${processorId}: ${String(error)}`),
    );
  const span = (name: string, ms: number, attributes: Record<string, string | number>, error?: string) => {
    const end = Date.now();
    const current = tracer.startSpan(name, { startTime: end - ms, attributes });
    if (error) current.setStatus({ code: 2, message: error });
    current.end(end);
  };
  return new WarmProcessors(runtime, {
    idleSeconds: config.PROCESSOR_IDLE_SECONDS,
    deletedCheckMs: config.PROCESSOR_DELETED_CHECK_SECONDS * 1000,
    deletedProcessors: async (ids) =>
      (
        await dataSource
          .getRepository(GenericProcessorEntity)
          .find({ where: { id: In(ids), deletedAt: Not(IsNull()) }, withDeleted: true, select: { id: true } })
      ).map((row) => row.id),
    events: {
      setup: ({ spec, ok, ms, reason }) => {
        recordProcessorSetup(spec.processorId, ok, ms / 1000);
        state(
          spec.processorId,
          ok ? { kind: 'warm', setupMs: ms } : { kind: 'setup-failed', error: reason ?? 'setup failed' },
        );
        span('processor.setup', ms, { 'processor.id': spec.processorId, 'processor.name': spec.processorName }, reason);
      },
      call: ({ spec, reports, ms }) => {
        const failed = reports.filter((report) => report.failure);
        state(spec.processorId, {
          kind: 'calls',
          runs: reports.length,
          failures: failed.length,
          lastError: failed[0]?.failure ?? undefined,
        });
        recordProcessorCall(
          spec.processorId,
          ms / 1000,
          reports.map((report) => ({ ok: !report.failure, kind: report.validation ? 'validation' : 'process' })),
        );
        span(
          'processor.process',
          ms,
          {
            'processor.id': spec.processorId,
            'processor.name': spec.processorName,
            'processor.batch_size': reports.length,
          },
          reports.find((report) => report.failure)?.failure ?? undefined,
        );
      },
      exit: ({ spec, why, reason }) => {
        recordProcessorExit(spec.processorId, why === 'crash');
        state(spec.processorId, { kind: 'ended', lastError: why === 'crash' ? reason : undefined });
        console.error(`[processor-runtime] warm process of processor ${spec.processorId} ended (${why}): ${reason}`);
      },
      cleanupLog: ({ spec, log, reason }) => {
        for (const line of log.split('\n').filter(Boolean))
          console.error(`[processor-runtime] ${spec.processorId} cleanup: ${line}`);
        if (reason) console.error(`[processor-runtime] ${spec.processorId} cleanup failed: ${reason}`);
      },
    },
  });
}

/**
 * Workers for the roles in WORKER_ROLES. Data fetch, model inference and Python processing can each have
 * their own task queue (TEMPORAL_*_TASK_QUEUE) and so their own number of worker processes; roles that
 * share a queue share one worker.
 */
export async function createPipelineWorkers(options: PipelineWorkerOptions): Promise<PipelineWorkers> {
  const { config } = options;
  const connection = options.connection ?? (await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }));
  const processorRuntime = createProcessorRuntime(config, (line) => console.error(`[processor-runtime] ${line}`));
  const deps: ActivityDeps = {
    config,
    dataSource: options.dataSource,
    store: options.store,
    publisher: createPublisher(config, options.store),
    processorRuntime,
    warmProcessors: createWarmProcessors(config, processorRuntime, options.dataSource),
    modelThreads: new ModelThreadPool(config.MODEL_CONCURRENCY, { onProviderFallback: warnProviderFallback }),
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
            // Inside the failure adapter, so it sees the errors as thrown: storage and database outages are
            // waited out here, and every activity heartbeats while it runs.
            (ctx: Context) => ({
              inbound: new ActivityResilienceInterceptor(ctx, {
                infrastructureRetryMs: config.INFRA_RETRY_SECONDS * 1000,
              }),
            }),
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
