import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig, type AppConfig } from '../../../src/platform/config/config';
import type {
  GenericProcessorEntity,
  InferenceEntity,
  ModelEntity,
  TaskEntity,
  WebhookDeliveryEntity,
} from '../../../src/platform/database/entities';
import type {
  GenericProcessorsRepository,
  InferenceChanges,
  InferenceFilter,
  InferencesRepository,
  ModelChanges,
  ModelsRepository,
  ModelViewer,
  NewGenericProcessor,
  NewInference,
  NewModel,
  NewTask,
  TasksRepository,
  WebhookDeliveriesRepository,
  NewWorkflowStart,
  PendingWorkflowStart,
  WorkflowStartsRepository,
} from '../../../src/platform/database/repositories';
import type { ObjectStore } from '../../../src/platform/storage/object-store';
import type { PipelineClient, StartInferenceRun, TaskQueueStats } from '../../../src/pipeline/client';
import { PipelineStartError } from '../../../src/pipeline/client';
import { createObjectStore } from '../../../src/platform/storage/create-object-store';
import type { InferenceWorkflowState, StepProgress } from '../../../workflows/contract/types';

/** The public surface of a class: what a fake has to offer in its place. */
type Surface<T> = { [K in keyof T]: T[K] };

/** A fake in the place of the class it imitates (its private fields are not part of the contract). */
export function as<T>(fake: Surface<NoInfer<T>>): T {
  return fake as unknown as T;
}

const dataDirs: string[] = [];

/** A configuration as the app loads it, with its data (and filesystem objects) in a fresh temp dir. */
export function testConfig(env: Record<string, string> = {}): AppConfig {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-api-unit-'));
  dataDirs.push(dataDir);
  return loadConfig({ DATA_DIR: dataDir, URL_SIGNING_SECRET: 'unit-test-signing-secret-0123456789', ...env });
}

/** Removes the data dirs of every testConfig() so far (call from afterAll). */
export function removeTestDirs(): void {
  for (const dir of dataDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** The real filesystem object store under the configuration's data dir. */
export async function testStore(config: AppConfig): Promise<ObjectStore> {
  const store = createObjectStore(config);
  await store.ensureReady();
  return store;
}

export class FakeInferences implements Surface<InferencesRepository> {
  readonly rows = new Map<string, InferenceEntity>();
  readonly updates: Array<{ id: string; changes: InferenceChanges }> = [];

  constructor(
    private readonly tasks?: FakeTasks,
    private readonly starts?: FakeWorkflowStarts,
  ) {}

  async createWithTasks(
    inference: NewInference,
    tasks: NewTask[],
    workflowStart?: NewWorkflowStart,
  ): Promise<InferenceEntity> {
    const now = new Date();
    const row: InferenceEntity = {
      ...inference,
      createdAt: now,
      updatedAt: now,
      retries: 0,
      cocoKey: null,
      tokenGeneration: 0,
      webhookRevokedAt: null,
    };
    this.rows.set(row.id, row);
    for (const task of tasks)
      this.tasks?.rows.set(task.taskId, { ...task, currentKey: null, createdAt: now, updatedAt: now });
    if (workflowStart)
      this.starts?.rows.set(inference.id, {
        inferenceId: inference.id,
        input: workflowStart.input,
        createdBy: workflowStart.createdBy,
        attempts: 0,
      });
    return { ...row };
  }

  async findById(id: string): Promise<InferenceEntity | null> {
    const row = this.rows.get(id);
    return row ? { ...row } : null;
  }

  async findOwned(id: string, createdBy: string): Promise<InferenceEntity | null> {
    const row = this.rows.get(id);
    return row && row.createdBy === createdBy ? { ...row } : null;
  }

  async list(filter: InferenceFilter, limit: number, offset: number): Promise<[InferenceEntity[], number]> {
    const matching = [...this.rows.values()]
      .filter(
        (row) =>
          row.createdBy === filter.createdBy &&
          (!filter.status || row.status === filter.status) &&
          (!filter.modelId || row.modelId === filter.modelId) &&
          (!filter.modelDisplayName || row.modelDisplayName === filter.modelDisplayName),
      )
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    return [matching.slice(offset, offset + limit), matching.length];
  }

  async update(id: string, changes: InferenceChanges): Promise<void> {
    this.updates.push({ id, changes });
    const row = this.rows.get(id);
    if (row) this.rows.set(id, { ...row, ...changes, updatedAt: new Date() });
  }

  async tokenGeneration(id: string): Promise<number | null> {
    return this.rows.get(id)?.tokenGeneration ?? null;
  }

  async inferenceIdOfTask(taskId: string): Promise<string | null> {
    return this.tasks?.rows.get(taskId)?.inferenceId ?? null;
  }

  async raiseTokenGeneration(id: string): Promise<number> {
    const row = this.rows.get(id);
    if (!row) return 0;
    row.tokenGeneration += 1;
    return row.tokenGeneration;
  }

  async revokeWebhook(id: string): Promise<void> {
    const row = this.rows.get(id);
    if (row) Object.assign(row, { webhookRevokedAt: new Date(), webhookSecret: null });
  }

  async delete(id: string): Promise<void> {
    this.rows.delete(id);
    // As ON DELETE CASCADE does.
    for (const [taskId, task] of this.tasks?.rows ?? []) if (task.inferenceId === id) this.tasks?.rows.delete(taskId);
  }

  /** Adds an inference as the database would hold it. */
  seed(row: Partial<InferenceEntity> & Pick<InferenceEntity, 'id'>): InferenceEntity {
    const now = new Date();
    const full: InferenceEntity = {
      modelId: '00000000-0000-4000-8000-000000000001',
      modelDisplayName: 'tiny',
      description: null,
      location: null,
      spatialDomain: { urls: ['https://example.com/a.tif'] },
      temporalDomain: [],
      maxcc: null,
      chipSize: null,
      fineTuningId: null,
      genericProcessorId: null,
      postProcessing: null,
      status: 'RUNNING',
      statusMessage: null,
      workflowId: row.id,
      createdBy: 'alice@example.com',
      createdAt: now,
      updatedAt: now,
      startedAt: now,
      finishedAt: null,
      webhookUrl: null,
      retries: 0,
      cocoKey: null,
      webhookSecret: null,
      tokenGeneration: 0,
      webhookRevokedAt: null,
      ...row,
    };
    this.rows.set(full.id, full);
    return full;
  }
}

export class FakeTasks implements Surface<TasksRepository> {
  readonly rows = new Map<string, TaskEntity>();

  async findById(taskId: string): Promise<TaskEntity | null> {
    return this.rows.get(taskId) ?? null;
  }

  async listFor(inferenceId: string): Promise<TaskEntity[]> {
    return [...this.rows.values()]
      .filter((row) => row.inferenceId === inferenceId)
      .sort((a, b) => a.taskIndex - b.taskIndex);
  }

  async statusesFor(inferenceIds: string[]): Promise<Map<string, string[]>> {
    return new Map(
      inferenceIds.map((id) => [
        id,
        [...this.rows.values()].filter((row) => row.inferenceId === id).map((row) => row.status),
      ]),
    );
  }

  async setStepProgress(taskId: string, stepId: string, progress: StepProgress): Promise<boolean> {
    const step = this.rows.get(taskId)?.pipelineSteps.find((candidate) => candidate.process_id === stepId);
    if (!step || ['FINISHED', 'FAILED', 'STOPPED'].includes(step.status)) return false;
    step.progress = progress;
    return true;
  }

  /** Adds a task as the database would hold it. */
  seed(row: Partial<TaskEntity> & Pick<TaskEntity, 'inferenceId' | 'taskIndex'>): TaskEntity {
    const now = new Date();
    const full: TaskEntity = {
      taskId: `${row.inferenceId}-task-${String(row.taskIndex + 1).padStart(3, '0')}`,
      input: { kind: 'url', url: `https://example.com/${row.taskIndex}.tif` },
      status: 'WAITING',
      pipelineSteps: [
        { process_id: 'terrakit-data-fetch', step_number: 0, status: 'WAITING' },
        { process_id: 'model-inference', step_number: 1, status: 'WAITING' },
        { process_id: 'push-to-geoserver', step_number: 2, status: 'WAITING' },
      ],
      outputKey: null,
      currentKey: null,
      outputs: null,
      statusMessage: null,
      createdAt: now,
      updatedAt: now,
      ...row,
    };
    this.rows.set(full.taskId, full);
    return full;
  }
}

export class FakeModels implements Surface<ModelsRepository> {
  readonly rows = new Map<string, ModelEntity>();

  private visible(viewer: ModelViewer): ModelEntity[] {
    return [...this.rows.values()].filter(
      (row) => !row.deletedAt && (viewer.admin || row.owner === viewer.user || row.visibility === 'public'),
    );
  }

  async create(model: NewModel): Promise<ModelEntity> {
    const row = { ...model, createdAt: new Date(), updatedAt: new Date(), deletedAt: null, deletedBy: null };
    this.rows.set(row.id, row);
    return row;
  }

  async findById(id: string): Promise<ModelEntity | null> {
    return this.rows.get(id) ?? null;
  }

  async findVisible(id: string, viewer: ModelViewer): Promise<ModelEntity | null> {
    return this.visible(viewer).find((row) => row.id === id) ?? null;
  }

  async findVisibleByDisplayName(displayName: string, viewer: ModelViewer): Promise<ModelEntity[]> {
    return this.visible(viewer)
      .filter((row) => row.displayName === displayName)
      .sort((a, b) => Number(b.owner === viewer.user) - Number(a.owner === viewer.user) || b.version - a.version);
  }

  async findLatestReadyByModelType(modelType: string, viewer: ModelViewer): Promise<ModelEntity | null> {
    const rows = this.visible(viewer).filter((row) => row.modelType === modelType && row.status === 'READY');
    rows.sort((a, b) => Number(b.owner === viewer.user) - Number(a.owner === viewer.user) || b.version - a.version);
    return rows[0] ?? null;
  }

  async findByIdOrName(idOrName: string): Promise<ModelEntity | null> {
    return (
      [...this.rows.values()].find((row) => !row.deletedAt && (row.id === idOrName || row.displayName === idOrName)) ??
      null
    );
  }

  async ownerHasDisplayName(owner: string, displayName: string, exceptId?: string): Promise<boolean> {
    return [...this.rows.values()].some(
      (row) => !row.deletedAt && row.owner === owner && row.displayName === displayName && row.id !== exceptId,
    );
  }

  async nextVersion(owner: string, displayName: string): Promise<number> {
    const versions = [...this.rows.values()]
      .filter((row) => row.owner === owner && row.displayName === displayName)
      .map((row) => row.version);
    return Math.max(0, ...versions) + 1;
  }

  async list(
    viewer: ModelViewer,
    filter: { visibility?: ModelEntity['visibility']; owner?: string; displayName?: string; latestOnly?: boolean },
    limit: number,
    offset: number,
  ): Promise<[ModelEntity[], number]> {
    const visible = this.visible(viewer);
    const rows = visible.filter(
      (row) =>
        (!filter.visibility || row.visibility === filter.visibility) &&
        (!filter.owner || row.owner === filter.owner) &&
        (!filter.displayName || row.displayName === filter.displayName) &&
        (!filter.latestOnly ||
          !visible.some(
            (other) =>
              other.owner === row.owner && other.displayName === row.displayName && other.version > row.version,
          )),
    );
    return [rows.slice(offset, offset + limit), rows.length];
  }

  async update(id: string, changes: ModelChanges): Promise<ModelEntity> {
    const row = { ...this.rows.get(id)!, ...changes, updatedAt: new Date() };
    this.rows.set(id, row);
    return row;
  }

  async softDelete(id: string, deletedBy: string): Promise<void> {
    const row = this.rows.get(id);
    if (row && !row.deletedAt) Object.assign(row, { deletedAt: new Date(), deletedBy });
  }

  /** A READY model over three bands and two classes. */
  seed(row: Partial<ModelEntity> = {}): ModelEntity {
    const now = new Date();
    const full: ModelEntity = {
      id: '00000000-0000-4000-8000-000000000001',
      displayName: 'tiny',
      description: null,
      owner: row.createdBy ?? 'alice@example.com',
      visibility: 'public',
      version: 1,
      deletedAt: null,
      deletedBy: null,
      status: 'READY',
      statusMessage: null,
      modelInputDataSpec: {
        bands: [{ name: 'red' }, { name: 'green' }, { name: 'blue' }],
        tile_size: 64,
        tile_overlap: 0,
        classes: [
          { value: 0, name: 'background' },
          { value: 1, name: 'object' },
        ],
      },
      geoserverPush: null,
      fileKey: 'models/tiny.onnx',
      fileName: 'tiny.onnx',
      fileSha256: '0'.repeat(64),
      fileSize: '1',
      onnxSignature: null,
      golden: null,
      modelType: null,
      createdBy: 'alice@example.com',
      createdAt: now,
      updatedAt: now,
      ...row,
    };
    this.rows.set(full.id, full);
    return full;
  }
}

export class FakeGenericProcessors implements Surface<GenericProcessorsRepository> {
  readonly rows = new Map<string, GenericProcessorEntity>();

  async workerStates(): Promise<[]> {
    return [];
  }

  async create(processor: NewGenericProcessor): Promise<GenericProcessorEntity> {
    const row = {
      style: 'script' as const,
      ...processor,
      createdAt: new Date(),
      updatedAt: new Date(),
      deletedAt: null,
    };
    this.rows.set(row.id, row);
    return row;
  }

  async findOwned(id: string, createdBy: string): Promise<GenericProcessorEntity | null> {
    const row = this.rows.get(id);
    return row && row.createdBy === createdBy && !row.deletedAt ? row : null;
  }

  async findIncludingDeleted(id: string, createdBy?: string): Promise<GenericProcessorEntity | null> {
    const row = this.rows.get(id);
    return row && (!createdBy || row.createdBy === createdBy) ? row : null;
  }

  async list(createdBy: string, limit: number, offset: number): Promise<[GenericProcessorEntity[], number]> {
    const rows = [...this.rows.values()].filter((row) => row.createdBy === createdBy && !row.deletedAt);
    return [rows.slice(offset, offset + limit), rows.length];
  }

  async softDelete(id: string): Promise<void> {
    const row = this.rows.get(id);
    if (row) row.deletedAt = new Date();
  }
}

export class FakeWebhookDeliveries implements Surface<WebhookDeliveriesRepository> {
  readonly rows: WebhookDeliveryEntity[] = [];

  async listFor(inferenceId: string): Promise<WebhookDeliveryEntity[]> {
    return this.rows.filter((row) => row.inferenceId === inferenceId);
  }
}

/** The workflow-start outbox in memory (rows are due at once; leases are not modelled). */
export class FakeWorkflowStarts implements Surface<WorkflowStartsRepository> {
  readonly rows = new Map<string, PendingWorkflowStart>();

  async claimDue(limit: number, _leaseMs: number, exclude: string[] = []): Promise<PendingWorkflowStart[]> {
    return [...this.rows.values()].filter((row) => !exclude.includes(row.inferenceId)).slice(0, limit);
  }

  async claim(inferenceId: string): Promise<PendingWorkflowStart | null> {
    return this.rows.get(inferenceId) ?? null;
  }

  async done(inferenceId: string): Promise<void> {
    this.rows.delete(inferenceId);
  }

  async failed(inferenceId: string): Promise<void> {
    const row = this.rows.get(inferenceId);
    if (row) row.attempts++;
  }

  async backlog(): Promise<{ count: number; oldestSeconds: number }> {
    return { count: this.rows.size, oldestSeconds: 0 };
  }
}

/**
 * The pipeline client's contract in memory: workflows that exist, runs started, and the answers of the live
 * query. Unknown workflows are ones that already ended or never were.
 */
export class FakePipeline implements Surface<PipelineClient> {
  readonly started: StartInferenceRun[] = [];
  readonly retried: StartInferenceRun[] = [];
  readonly cancelled: string[] = [];
  readonly terminated: Array<{ workflowId: string; reason: string }> = [];
  readonly queries: Array<{ workflowId: string; timeoutMs: number }> = [];
  /** Workflows that are running (cancel finds them). */
  readonly running = new Set<string>();
  /** The live state a query answers, by workflow id; a workflow without one times out. */
  readonly liveStates = new Map<string, InferenceWorkflowState>();
  /** When set, starting a run fails with this error (the Temporal frontend is down). */
  startFailure?: Error;
  /** Whether a cancelled workflow closes within the grace time a caller waits. */
  closesAfterCancel = true;

  async start(run: StartInferenceRun, rollback: () => Promise<void>): Promise<void> {
    if (this.startFailure) {
      await rollback();
      throw new PipelineStartError(this.startFailure);
    }
    this.started.push(run);
    this.running.add(run.workflowId);
  }

  /** When set, outbox starts fail with this error although Temporal looks reachable (an outage just begun). */
  startOnceFailure?: Error;
  /** When set, outbox starts wait for it (a slow server). */
  startGate?: Promise<void>;

  async startOnce(run: StartInferenceRun): Promise<'started' | 'already started'> {
    await this.startGate;
    const failure = this.startFailure ?? this.startOnceFailure;
    if (failure) throw failure;
    if (this.started.some((earlier) => earlier.workflowId === run.workflowId)) return 'already started';
    this.started.push(run);
    this.running.add(run.workflowId);
    return 'started';
  }

  async unreachableReason(): Promise<string | undefined> {
    return this.startFailure?.message;
  }

  async retry(run: StartInferenceRun, rollback: () => Promise<void>): Promise<void> {
    if (this.startFailure) {
      await rollback();
      throw new PipelineStartError(this.startFailure);
    }
    this.retried.push(run);
    this.running.add(run.workflowId);
  }

  async queryStatus(workflowId: string, timeoutMs: number): Promise<InferenceWorkflowState> {
    this.queries.push({ workflowId, timeoutMs });
    const state = this.liveStates.get(workflowId);
    if (!state) throw Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
    return state;
  }

  async cancel(workflowId: string): Promise<boolean> {
    if (!this.running.has(workflowId)) return false;
    this.cancelled.push(workflowId);
    return true;
  }

  async waitForClose(workflowId: string): Promise<boolean> {
    if (this.closesAfterCancel) this.running.delete(workflowId);
    return this.closesAfterCancel;
  }

  async terminate(workflowId: string, reason: string): Promise<void> {
    this.terminated.push({ workflowId, reason });
    this.running.delete(workflowId);
  }

  async taskQueueStats(): Promise<TaskQueueStats> {
    return { pollers: [], backlog: { supported: false, reason: 'fake' } };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
