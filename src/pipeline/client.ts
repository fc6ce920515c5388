import { Connection, WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { CREATED_BY, INFERENCE_STATUS, MODEL_ID } from '../../workflows/contract/search-attributes';
import {
  INFERENCE_STATUS_QUERY,
  INFERENCE_WORKFLOW_TYPE,
  type InferenceWorkflowInput,
  type InferenceWorkflowState,
} from '../../workflows/contract/types';

export interface PipelineClientOptions {
  /** The task queue of the inference workflows (TEMPORAL_TASK_QUEUE). */
  taskQueue: string;
  namespace: string;
  /** The server has the InferenceStatus/ModelId/CreatedBy search attributes (TEMPORAL_SEARCH_ATTRIBUTES). */
  searchAttributes: boolean;
  /** Address of the Temporal frontend, for the readiness probe's own connection. */
  address: string;
  /** How long a workflow start may take (the SDK retries an unreachable server for ~20 s otherwise). */
  startTimeoutMs?: number;
  /** The CreatedBy value of a user (a pseudonym when payloads are encrypted); default the e-mail itself. */
  createdByAttribute?: (email: string) => string;
}

const DEFAULT_START_TIMEOUT_MS = 3000;

export interface StartInferenceRun {
  workflowId: string;
  input: InferenceWorkflowInput;
  /** The user the inference belongs to (a search attribute). */
  createdBy: string;
}

/** The workflow could not be started (Temporal down or refusing); the rollback has run. */
export class PipelineStartError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'PipelineStartError';
  }
}

/** How long the clean-up of a start that timed out may take. */
const TERMINATE_TIMEOUT_MS = 2000;
const PING_BEFORE_TERMINATE_MS = 500;
/** gRPC status of a call that ran past its deadline. */
const DEADLINE_EXCEEDED = 4;

export type TaskQueueType = 'workflow' | 'activity';

export interface Backlog {
  supported: boolean;
  approximate_backlog_count?: number;
  approximate_backlog_age_seconds?: number;
  tasks_add_rate?: number;
  tasks_dispatch_rate?: number;
  /** Which DescribeTaskQueue call answered, or why there is no figure. */
  source?: 'stats' | 'enhanced';
  reason?: string;
}

export interface QueuePoller {
  identity: string;
  last_access_time: string | null;
  rate_per_second: number | null;
}

export interface TaskQueueStats {
  pollers: QueuePoller[];
  backlog: Backlog;
}

const PROTO_TYPE: Record<TaskQueueType, temporal.api.enums.v1.TaskQueueType> = {
  workflow: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  activity: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
};

type Stats = temporal.api.taskqueue.v1.ITaskQueueStats;
type Poller = temporal.api.taskqueue.v1.IPollerInfo;

const toNumber = (value: unknown): number => (value === null || value === undefined ? 0 : Number(String(value)));

function timestampIso(value: Poller['lastAccessTime']): string | null {
  if (!value) return null;
  return new Date(toNumber(value.seconds) * 1000 + Math.floor(toNumber(value.nanos) / 1e6)).toISOString();
}

function backlogOf(stats: Stats, source: 'stats' | 'enhanced'): Backlog {
  const age = stats.approximateBacklogAge;
  return {
    supported: true,
    source,
    approximate_backlog_count: toNumber(stats.approximateBacklogCount),
    approximate_backlog_age_seconds: age ? toNumber(age.seconds) + toNumber(age.nanos) / 1e9 : 0,
    tasks_add_rate: stats.tasksAddRate ?? 0,
    tasks_dispatch_rate: stats.tasksDispatchRate ?? 0,
  };
}

/**
 * Everything the API asks of the inference workflows: start (and retry) runs, the live status query, cancel and
 * terminate, task queue stats and a readiness probe. Owns the Temporal client it is given: close() closes it.
 */
export class PipelineClient {
  /**
   * Its own connection without the client's retry interceptor: a readiness probe reports what it sees
   * now, and retries of a failed call would outlive the request (and the connection, on shutdown).
   */
  private probeConnection?: Connection;

  /** When Temporal last answered (a start or a ping) and when it last did not, for a cheap reachability check. */
  private lastAnswerAt = 0;
  private lastFailureAt = 0;
  private lastFailure = '';
  private reachabilityPing?: Promise<string | undefined>;

  constructor(
    private readonly client: Client,
    private readonly options: PipelineClientOptions,
  ) {}

  /**
   * Why Temporal is unreachable now, or undefined when it is not known to be: answers from what starts and
   * probes saw within `freshMs` when the last of them succeeded, else pings (at most one ping at a time, bounded by
   * `timeoutMs`). A failure is never trusted from cache, so recovery is seen on the next call.
   */
  async unreachableReason(freshMs: number, timeoutMs: number): Promise<string | undefined> {
    if (this.lastAnswerAt > this.lastFailureAt && Date.now() - this.lastAnswerAt < freshMs) return undefined;
    this.reachabilityPing ??= this.ping(timeoutMs)
      .then(
        () => undefined,
        () => this.lastFailure,
      )
      .finally(() => (this.reachabilityPing = undefined));
    return this.reachabilityPing;
  }

  private noteAnswer(): void {
    this.lastAnswerAt = Date.now();
  }

  private noteFailure(error: unknown): void {
    this.lastFailureAt = Date.now();
    this.lastFailure = error instanceof Error ? error.message : String(error);
  }

  /**
   * Starts the workflow run of an inference; when the start fails, runs `rollback` (undoing what was written
   * for the run) and throws PipelineStartError.
   */
  async start(run: StartInferenceRun, rollback: () => Promise<void>): Promise<void> {
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    // A deadline ends the gRPC call and the SDK's retries of an unreachable server (an abort signal does not).
    try {
      await this.client.withDeadline(Date.now() + timeoutMs, () =>
        this.client.workflow.start(INFERENCE_WORKFLOW_TYPE, {
          taskQueue: this.options.taskQueue,
          workflowId: run.workflowId,
          args: [run.input],
          ...this.searchAttributes(run.input.modelId, run.createdBy),
        }),
      );
    } catch (error) {
      const timedOut = [error, (error as { cause?: unknown }).cause].some(
        (link) => (link as { code?: number } | undefined)?.code === DEADLINE_EXCEEDED,
      );
      // A start that timed out may still have reached a server that is slow rather than down: its run is
      // ended before the rows go, so nothing half-created remains. A server that does not answer a ping (no
      // retries) did not get it: the client is not kept waiting for a terminate that cannot succeed.
      if (
        timedOut &&
        (await this.ping(PING_BEFORE_TERMINATE_MS).then(
          () => true,
          () => false,
        ))
      )
        await this.client
          .withDeadline(Date.now() + TERMINATE_TIMEOUT_MS, () =>
            this.client.workflow
              .getHandle(run.workflowId)
              .terminate('inference creation timed out and was rolled back'),
          )
          .catch(() => undefined);
      await rollback();
      throw new PipelineStartError(
        timedOut
          ? new Error(`Temporal did not accept the workflow within ${timeoutMs} ms (TEMPORAL_START_TIMEOUT_MS)`, {
              cause: error,
            })
          : error,
      );
    }
  }

  /**
   * Starts the workflow of an inference taken from the workflow-start outbox, at most once per id: the server
   * refuses a second start of the id (REJECT_DUPLICATE, also after the first run has closed), and that answer
   * counts as done, so a start that is repeated (a lost answer, an API restart) never runs the inference twice.
   * Errors (Temporal down, the deadline passed) are thrown for the outbox to retry; nothing is rolled back.
   */
  async startOnce(run: StartInferenceRun): Promise<'started' | 'already started'> {
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    try {
      await this.client.withDeadline(Date.now() + timeoutMs, () =>
        this.client.workflow.start(INFERENCE_WORKFLOW_TYPE, {
          taskQueue: this.options.taskQueue,
          workflowId: run.workflowId,
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          args: [run.input],
          ...this.searchAttributes(run.input.modelId, run.createdBy),
        }),
      );
      this.noteAnswer();
      return 'started';
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) {
        this.noteAnswer();
        return 'already started';
      }
      this.noteFailure(error);
      throw error;
    }
  }

  /** A new run of an ended workflow under the same id (the ids of ended runs may be reused). */
  retry(run: StartInferenceRun, rollback: () => Promise<void>): Promise<void> {
    return this.start(run, rollback);
  }

  /** Lets users find inferences in the Web UI by status, model and user. */
  private searchAttributes(modelId: string, createdBy: string) {
    if (!this.options.searchAttributes) return {};
    return {
      typedSearchAttributes: [
        { key: INFERENCE_STATUS, value: 'PENDING' },
        { key: MODEL_ID, value: modelId },
        { key: CREATED_BY, value: this.options.createdByAttribute?.(createdBy) ?? createdBy },
      ],
    };
  }

  /** The workflow's live state; rejects after `timeoutMs` (e.g. when no worker polls to answer the query). */
  async queryStatus(workflowId: string, timeoutMs: number): Promise<InferenceWorkflowState> {
    const handle = this.client.workflow.getHandle(workflowId);
    // The abort signal ends the gRPC call and its retries, so nothing lingers after the timeout.
    return this.client.withAbortSignal(AbortSignal.timeout(timeoutMs), () =>
      handle.query<InferenceWorkflowState>(INFERENCE_STATUS_QUERY),
    );
  }

  /**
   * Requests cancellation of the workflow (running activities notice through their heartbeats). False when
   * there is no such workflow.
   */
  async cancel(workflowId: string): Promise<boolean> {
    try {
      await this.client.workflow.getHandle(workflowId).cancel();
      return true;
    } catch (error) {
      if ((error as Error).name === 'WorkflowNotFoundError') return false;
      throw error;
    }
  }

  /** Waits up to `timeoutMs` for the workflow to close, however it ends; true if it did. */
  async waitForClose(workflowId: string, timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.client.workflow
          .getHandle(workflowId)
          .result()
          .then(
            () => true,
            () => true,
          ),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async terminate(workflowId: string, reason: string): Promise<void> {
    await this.client.workflow.getHandle(workflowId).terminate(reason);
  }

  /** Pollers and approximate backlog of one task queue, for one type of task. */
  async taskQueueStats(name: string, type: TaskQueueType): Promise<TaskQueueStats> {
    const service = this.client.workflowService;
    const namespace = this.options.namespace;
    const taskQueue = { name, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL };
    // Servers 1.28+ answer `stats` in the default mode; older ones (1.25-1.27) only in the enhanced mode.
    const response = await service.describeTaskQueue({
      namespace,
      taskQueue,
      taskQueueType: PROTO_TYPE[type],
      reportStats: true,
    });
    const pollers = (response.pollers ?? []).map((poller: Poller) => ({
      identity: poller.identity ?? '',
      last_access_time: timestampIso(poller.lastAccessTime),
      rate_per_second: poller.ratePerSecond ?? null,
    }));
    if (response.stats) return { pollers, backlog: backlogOf(response.stats, 'stats') };
    let backlog: Backlog;
    try {
      const enhanced = await service.describeTaskQueue({
        namespace,
        taskQueue,
        apiMode: temporal.api.enums.v1.DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
        versions: { unversioned: true },
        taskQueueTypes: [PROTO_TYPE[type]],
        reportStats: true,
      });
      const stats = Object.values(enhanced.versionsInfo ?? {})
        .map((info) => info.typesInfo?.[PROTO_TYPE[type]]?.stats)
        .find((value): value is Stats => !!value);
      backlog = stats
        ? backlogOf(stats, 'enhanced')
        : { supported: false, reason: 'the server returned no task queue stats' };
    } catch (error) {
      backlog = {
        supported: false,
        reason: `this Temporal server does not report task queue backlog: ${(error as Error).message}`,
      };
    }
    return { pollers, backlog };
  }

  /** Resolves when the Temporal frontend answers within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<void> {
    this.probeConnection ??= Connection.lazy({ address: this.options.address, interceptors: [] });
    const connection = this.probeConnection;
    try {
      await connection.withDeadline(Date.now() + timeoutMs, () => connection.workflowService.getSystemInfo({}));
      this.noteAnswer();
    } catch (error) {
      this.noteFailure(error);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.probeConnection?.close();
    await this.client.connection.close();
  }
}
