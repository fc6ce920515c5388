import type { DataSource } from 'typeorm';
import { TasksRepository } from '../../src/platform/database/repositories/tasks.repository';
import { activityLogger } from '../../src/platform/logging/activity-logging';
import type { Client } from '@temporalio/client';
import { STEP_PROGRESS_SIGNAL, type StepProgress, type StepProgressSignal } from '../../workflows/contract/types';
import { currentActivity, currentTaskId, stepHeartbeat } from './activity-context';

/** What a step counts: `total` when known (a download without Content-Length has none). */
export interface ProgressCount {
  done: number;
  total?: number | null;
  unit: string;
}

/** Where progress is stored: TasksRepository.setStepProgress (a double in unit tests). */
export interface StepProgressStore {
  setStepProgress(taskId: string, stepId: string, progress: StepProgress): Promise<unknown>;
}

export interface StepProgressOptions {
  /** At most one write per this many milliseconds (the last count, done = total, is written at once). */
  intervalMs?: number;
  now?: () => number;
  /**
   * Sends a count to the step's workflow (its query shows it): the first once the step has run `signalIntervalMs`,
   * then at most one per that interval, and the last count when any was sent. Short steps send none (each signal
   * is an event in the workflow's history).
   */
  signal?: (progress: StepProgress) => Promise<unknown>;
  signalIntervalMs?: number;
}

/** Projected progress writes of one task+step: at most ~1/s (STEP_PROGRESS_INTERVAL_MS), so a busy step costs the database little. */
const STEP_PROGRESS_INTERVAL_MS = 1000;
/** Signals of a long step's count to its workflow: every few seconds (STEP_PROGRESS_SIGNAL_INTERVAL_MS). */
const STEP_PROGRESS_SIGNAL_INTERVAL_MS = 3000;

/**
 * Progress of one step of one task: each count is the activity's heartbeat (as before) and, throttled, the
 * step's `progress` in the DB projection (inference_tasks.pipeline_steps), where the events triggers and
 * GET .../tasks read it. A write never fails the step: errors are logged and the next count tries again.
 */
export class StepProgressReporter {
  private readonly intervalMs: number;
  private readonly now: () => number;
  private first?: { at: number; done: number };
  private lastWriteAt = -Infinity;
  private lastWritten?: StepProgress;
  private pending?: StepProgress;
  private timer?: NodeJS.Timeout;
  private writes: Promise<void> = Promise.resolve();
  private readonly startedAt: number;
  private lastSignalAt?: number;
  private lastSignalled?: StepProgress;
  private signals: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: StepProgressStore,
    readonly taskId: string,
    readonly stepId: string,
    private readonly options: StepProgressOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? STEP_PROGRESS_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  /** Records a count; `heartbeat` is what the activity heartbeats (the count itself unless given). */
  report(count: ProgressCount, heartbeat: unknown = count): void {
    stepHeartbeat(heartbeat);
    const now = this.now();
    const progress = this.progressOf(count, now);
    this.maybeSignal(progress, now);
    // Waiting model calls repeat their last count to keep heartbeats flowing: nothing new to store.
    if (this.lastWritten && progress.done === this.lastWritten.done && progress.total === this.lastWritten.total) {
      this.pending = undefined;
      return;
    }
    const last = progress.total !== null && progress.done >= progress.total;
    if (last || now - this.lastWriteAt >= this.intervalMs) {
      this.write(progress, now);
      return;
    }
    this.pending = progress;
    this.timer ??= setTimeout(
      () => {
        this.timer = undefined;
        if (this.pending) this.write(this.pending, this.now());
      },
      Math.max(0, this.lastWriteAt + this.intervalMs - now),
    );
    this.timer.unref?.();
  }

  /** Writes the count still held back by the throttle, and resolves once every write (and signal) has finished. */
  flush(): Promise<void> {
    if (this.pending) this.write(this.pending, this.now());
    return Promise.all([this.writes, this.signals]).then(() => undefined);
  }

  private maybeSignal(progress: StepProgress, now: number): void {
    const { signal } = this.options;
    if (!signal) return;
    const interval = this.options.signalIntervalMs ?? STEP_PROGRESS_SIGNAL_INTERVAL_MS;
    const last = this.lastSignalled;
    if (last && last.done === progress.done && last.total === progress.total) return;
    const final = progress.total !== null && progress.done >= progress.total;
    const due = now - (this.lastSignalAt ?? this.startedAt) >= interval;
    if (!(due || (final && last))) return;
    this.lastSignalAt = now;
    this.lastSignalled = progress;
    this.signals = this.signals
      .then(() => signal(progress))
      .then(
        () => undefined,
        (error: unknown) =>
          activityLogger().debug(
            { task_id: this.taskId, step_id: this.stepId, error: (error as Error).message },
            'step progress not signalled to the workflow',
          ),
      );
  }

  private progressOf(count: ProgressCount, now: number): StepProgress {
    const total = count.total ?? null;
    this.first ??= { at: now, done: count.done };
    let eta: number | null = null;
    if (total !== null && count.done >= total) eta = 0;
    else if (total !== null && count.done > this.first.done && now > this.first.at) {
      const perSecond = (count.done - this.first.done) / ((now - this.first.at) / 1000);
      eta = Math.ceil((total - count.done) / perSecond);
    }
    return { done: count.done, total, unit: count.unit, eta_seconds: eta };
  }

  private write(progress: StepProgress, now: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    this.lastWriteAt = now;
    this.lastWritten = progress;
    this.writes = this.writes
      .then(() => this.store.setStepProgress(this.taskId, this.stepId, progress))
      .then(
        () => undefined,
        (error: unknown) =>
          activityLogger().warn(
            { task_id: this.taskId, step_id: this.stepId, error: (error as Error).message },
            'step progress not stored',
          ),
      );
  }
}

/**
 * The progress reporter of a step body: for the task of the grouped item it runs as, else `taskId` (the
 * request's). Call `flush()` before the step returns, so its last count is stored before its status.
 */
export function stepProgress(
  deps: {
    dataSource: DataSource;
    config: { STEP_PROGRESS_INTERVAL_MS: number; STEP_PROGRESS_SIGNAL_INTERVAL_MS?: number };
  },
  stepId: string,
  taskId: string,
): StepProgressReporter {
  const task = currentTaskId(taskId);
  return new StepProgressReporter(new TasksRepository(deps.dataSource), task, stepId, {
    intervalMs: deps.config.STEP_PROGRESS_INTERVAL_MS,
    signal: workflowSignal(task, stepId),
    signalIntervalMs: deps.config.STEP_PROGRESS_SIGNAL_INTERVAL_MS,
  });
}

/** Signals the workflow run that scheduled the running activity (none outside an activity, or without a client). */
function workflowSignal(taskId: string, stepId: string): StepProgressOptions['signal'] {
  const activity = currentActivity();
  if (!activity) return undefined;
  let client: Client;
  try {
    client = activity.client;
  } catch {
    return undefined; // a test environment without a Temporal client
  }
  const execution = activity.info.workflowExecution;
  if (!execution) return undefined;
  const { workflowId, runId } = execution;
  const handle = client.workflow.getHandle(workflowId, runId);
  return (progress) =>
    handle.signal<[StepProgressSignal]>(STEP_PROGRESS_SIGNAL, { task_id: taskId, step_id: stepId, progress });
}
