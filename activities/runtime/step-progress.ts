import type { DataSource } from 'typeorm';
import { TasksRepository } from '../../src/platform/database/repositories/tasks.repository';
import { activityLogger } from '../../src/platform/logging/activity-logging';
import type { StepProgress } from '../../workflows/contract/types';
import { currentTaskId, stepHeartbeat } from './activity-context';

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
}

/** Projected progress writes of one task+step: at most ~1/s (STEP_PROGRESS_INTERVAL_MS), so a busy step costs the database little. */
const STEP_PROGRESS_INTERVAL_MS = 1000;

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

  constructor(
    private readonly store: StepProgressStore,
    readonly taskId: string,
    readonly stepId: string,
    options: StepProgressOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? STEP_PROGRESS_INTERVAL_MS;
    this.now = options.now ?? Date.now;
  }

  /** Records a count; `heartbeat` is what the activity heartbeats (the count itself unless given). */
  report(count: ProgressCount, heartbeat: unknown = count): void {
    stepHeartbeat(heartbeat);
    const now = this.now();
    const progress = this.progressOf(count, now);
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

  /** Writes the count still held back by the throttle, and resolves once every write has finished. */
  flush(): Promise<void> {
    if (this.pending) this.write(this.pending, this.now());
    return this.writes;
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
  deps: { dataSource: DataSource; config: { STEP_PROGRESS_INTERVAL_MS: number } },
  stepId: string,
  taskId: string,
): StepProgressReporter {
  return new StepProgressReporter(new TasksRepository(deps.dataSource), currentTaskId(taskId), stepId, {
    intervalMs: deps.config.STEP_PROGRESS_INTERVAL_MS,
  });
}
