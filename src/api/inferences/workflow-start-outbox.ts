import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../../platform/config/config';
import { type PendingWorkflowStart, WorkflowStartsRepository } from '../../platform/database/repositories';
import { PipelineClient } from '../../pipeline/client';
import { APP_CONFIG } from '../config.module';

/** How often the outbox looks for due rows (left by a failed start, a restart or another API process). */
const SCAN_INTERVAL_MS = 1000;
/** Backoff of a failed start: 0.5 s doubling, capped so a start follows Temporal's return within seconds. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;
/** A start or probe that succeeded this recently vouches for Temporal; a failure is always re-checked. */
const REACHABLE_FRESH_MS = 1000;
const REACHABILITY_PING_MS = 1500;

export type StartOutcome = 'started' | 'already started' | 'failed';

/**
 * Starts the workflows of new inferences from the `workflow_starts` outbox. The row is written in the transaction
 * that creates the inference, so an inference never exists without the start of its workflow being owed; this
 * service pays it, several starts at once, in the background: right after the commit for a new inference, and from
 * the scan for rows left over (a start that failed, backed off; an API process that died before starting). A start
 * refused as already started counts as done, so starting twice never runs an inference twice.
 */
@Injectable()
export class WorkflowStartOutbox implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WorkflowStartOutbox.name);
  private readonly inFlight = new Map<string, Promise<StartOutcome>>();
  private readonly queue: Array<{ start: PendingWorkflowStart; settle: (outcome: StartOutcome) => void }> = [];
  private running = 0;
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<void>;
  private stopped = false;
  private failingSince?: number;
  private scanFailing = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly starts: WorkflowStartsRepository,
    private readonly pipeline: PipelineClient,
  ) {}

  /** How long a claimed row stays with its claimer: longer than one start may take. */
  get leaseMs(): number {
    return this.config.TEMPORAL_START_TIMEOUT_MS + 10_000;
  }

  onApplicationBootstrap(): void {
    // Rows left by an earlier process are due at once (their lease is over): started on the first scan.
    this.timer = setInterval(() => void this.scan(), SCAN_INTERVAL_MS);
    this.timer.unref();
    void this.scan();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const waiting of this.queue.splice(0)) waiting.settle('failed');
    // Starts under way finish (bounded by TEMPORAL_START_TIMEOUT_MS); what is left stays in the outbox.
    await Promise.allSettled([this.scanning, ...this.inFlight.values()]);
  }

  /** Why Temporal cannot take a start now (POST answers 503 rather than accept), or undefined. */
  unavailableReason(): Promise<string | undefined> {
    return this.pipeline.unreachableReason(REACHABLE_FRESH_MS, REACHABILITY_PING_MS);
  }

  /**
   * Starts a new inference's workflow now (its row just committed) and waits for it while a start slot is free,
   * up to WORKFLOW_START_WAIT_MS: an idle service answers with the workflow running, a busy one does not make the
   * client wait behind the queue. Resolves 'pending' when the start goes on in the background.
   */
  async startNew(start: PendingWorkflowStart): Promise<StartOutcome | 'pending'> {
    const slotFree = this.running < this.config.WORKFLOW_START_CONCURRENCY;
    const outcome = this.enqueue(start);
    const waitMs = this.config.WORKFLOW_START_WAIT_MS;
    if (!slotFree || waitMs === 0) return 'pending';
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        outcome,
        new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), waitMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Makes sure the workflow of an inference exists (a stop of an inference whose start is still owed): starts it
   * now when its row is there. 'nothing owed' when it has no row (its workflow was started, and may have ended).
   */
  async startOwed(inferenceId: string): Promise<StartOutcome | 'nothing owed'> {
    const under = this.inFlight.get(inferenceId);
    if (under) return under;
    const row = await this.starts.claim(inferenceId, this.leaseMs);
    if (!row) return 'nothing owed';
    return this.enqueue(row);
  }

  private enqueue(start: PendingWorkflowStart): Promise<StartOutcome> {
    const existing = this.inFlight.get(start.inferenceId);
    if (existing) return existing;
    const outcome = new Promise<StartOutcome>((settle) => this.queue.push({ start, settle }));
    this.inFlight.set(start.inferenceId, outcome);
    void outcome.finally(() => this.inFlight.delete(start.inferenceId));
    this.drain();
    return outcome;
  }

  private drain(): void {
    while (this.running < this.config.WORKFLOW_START_CONCURRENCY && this.queue.length > 0) {
      const { start, settle } = this.queue.shift()!;
      this.running++;
      void this.startOne(start)
        .then(settle, () => settle('failed'))
        .finally(() => {
          this.running--;
          this.drain();
        });
    }
  }

  private async startOne(start: PendingWorkflowStart): Promise<StartOutcome> {
    let outcome: StartOutcome;
    try {
      outcome = await this.pipeline.startOnce({
        workflowId: start.inferenceId,
        input: start.input,
        createdBy: start.createdBy,
      });
    } catch (error) {
      const reason = (error as Error).message ?? String(error);
      const retryInMs = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(start.attempts, 10));
      if (this.failingSince === undefined) {
        this.failingSince = Date.now();
        this.logger.warn(
          `workflow starts failing, inferences stay PENDING and are started when Temporal answers: ${reason}`,
        );
      }
      await this.starts.failed(start.inferenceId, reason, retryInMs).catch((dbError: unknown) => {
        // The row keeps its lease and is retried when it runs out.
        this.logger.warn(`could not record the failed start of ${start.inferenceId}: ${(dbError as Error).message}`);
      });
      return 'failed';
    }
    if (this.failingSince !== undefined) {
      this.logger.log(`workflow starts succeed again after ${((Date.now() - this.failingSince) / 1000).toFixed(1)} s`);
      this.failingSince = undefined;
    }
    await this.starts.done(start.inferenceId).catch((dbError: unknown) => {
      // The row comes back after its lease; that start is refused as already started and the row goes then.
      this.logger.warn(`could not clear the started workflow of ${start.inferenceId}: ${(dbError as Error).message}`);
    });
    return outcome;
  }

  /** Claims due rows (as many as can start soon) and queues them; skipped while Temporal does not answer. */
  private scan(): Promise<void> {
    if (this.stopped || this.scanning) return this.scanning ?? Promise.resolve();
    this.scanning = (async () => {
      const room = this.config.WORKFLOW_START_CONCURRENCY * 2 - this.queue.length;
      if (room <= 0) return;
      if (this.failingSince !== undefined && (await this.unavailableReason()) !== undefined) return;
      const due = await this.starts.claimDue(room, this.leaseMs, [...this.inFlight.keys()]);
      this.scanFailing = false;
      for (const start of due) void this.enqueue(start);
    })()
      .catch((error: unknown) => {
        // Once per outage (the database down): the scan runs again every second.
        if (!this.scanFailing)
          this.logger.warn(`workflow-start outbox scan failed, retrying every second: ${(error as Error).message}`);
        this.scanFailing = true;
      })
      .finally(() => (this.scanning = undefined));
    return this.scanning;
  }
}
