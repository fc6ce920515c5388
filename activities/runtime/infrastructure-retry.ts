import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import { infrastructureDependency } from '../../src/platform/infrastructure-errors';
import { activityLogger } from '../../src/platform/logging/activity-logging';

/**
 * Outages of our own services (object storage, PostgreSQL) are retried inside the activity, for as long as a
 * realistic outage lasts, with capped backoff and heartbeats while waiting. Temporal's retry policy of a step
 * (a few attempts, seconds apart) is kept for real step failures: a MinIO restart no longer spends it.
 * Why inside the activity rather than a longer retry policy: Temporal counts every attempt the same, so a
 * policy long enough for an outage would also rerun a broken step for minutes; and one policy per error type
 * does not exist.
 */
export interface InfrastructureRetryOptions {
  /** How long one attempt keeps retrying infrastructure errors before it fails as an ordinary attempt. */
  budgetMs: number;
  /** First wait; doubles up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Called while waiting (heartbeats), at most every few seconds. */
  onWait?: () => void;
  signal?: AbortSignal;
  /** What is retried, for the warning log line. */
  what?: string;
}

const DEFAULT_INITIAL_DELAY_MS = 1000;
const DEFAULT_MAX_DELAY_MS = 15_000;
/** Longest time between two onWait calls while waiting out an outage. */
const WAIT_TICK_MS = 2000;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    }
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

/**
 * Runs `body`; when it fails with an infrastructure error, waits (1 s, 2 s, 4 s ... capped at 15 s) and runs
 * it again, until it succeeds, fails otherwise, or the budget is spent (then the last error is thrown).
 * `body` must be safe to rerun: steps write their outputs under fixed keys, so they are.
 */
export async function retryInfrastructure<T>(body: () => Promise<T>, options: InfrastructureRetryOptions): Promise<T> {
  const started = Date.now();
  let delay = options.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
  const maxDelay = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  for (let retry = 1; ; retry++) {
    try {
      return await body();
    } catch (error) {
      const dependency = infrastructureDependency(error);
      const elapsed = Date.now() - started;
      if (!dependency || options.signal?.aborted || elapsed + delay > options.budgetMs) throw error;
      activityLogger().warn(
        {
          dependency,
          retry,
          retry_in_ms: delay,
          outage_ms: elapsed,
          error: error instanceof Error ? error.message : String(error),
        },
        `${options.what ?? 'step'} waits for ${dependency} (infrastructure error, not counted as a failed attempt)`,
      );
      for (let waited = 0; waited < delay; waited += WAIT_TICK_MS) {
        options.onWait?.();
        await sleep(Math.min(WAIT_TICK_MS, delay - waited), options.signal);
      }
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}

/** When the running activity stops waiting out outages (set by the interceptor for the activity's code). */
const outageDeadline = new AsyncLocalStorage<{ deadline: number }>();

/**
 * retryInfrastructure for a part of an activity (one task of a grouped step), within what is left of the
 * activity's own budget; outside an intercepted activity (unit tests, scripts) the body runs once.
 */
export function retryInfrastructureWithinActivity<T>(
  body: () => Promise<T>,
  options: Omit<InfrastructureRetryOptions, 'budgetMs'>,
): Promise<T> {
  const scope = outageDeadline.getStore();
  if (!scope) return body();
  return retryInfrastructure(body, { ...options, budgetMs: Math.max(0, scope.deadline - Date.now()) });
}

export interface ActivityResilienceOptions {
  /** Infrastructure errors are retried inside an attempt for up to this long (INFRA_RETRY_SECONDS). */
  infrastructureRetryMs: number;
}

/** Keep-alive heartbeats at this fraction of the activity's heartbeat timeout. */
const KEEPALIVE_FRACTION = 0.25;
/** Time kept free before the attempt's start-to-close timeout when deciding whether to wait once more. */
const TIMEOUT_MARGIN_MS = 10_000;

/**
 * Worker interceptor for every activity:
 * - keep-alive heartbeats (repeating the last details) while the activity runs, so an activity with a
 *   heartbeat timeout of ~20 s moves to another worker that soon after its worker dies, however long its
 *   own work goes between two progress reports (a GeoServer upload, a webhook call, COCO writing);
 * - retries of infrastructure errors inside the attempt (retryInfrastructure), bounded by the budget and
 *   by the attempt's start-to-close timeout.
 * The last details are also what a rerun inside the attempt reads as `info.heartbeatDetails`, so a
 * grouped step does not redo the tasks it finished before the outage.
 */
export class ActivityResilienceInterceptor implements ActivityInboundCallsInterceptor {
  private lastDetails: unknown;

  constructor(
    private readonly context: Context,
    private readonly options: ActivityResilienceOptions,
  ) {
    this.lastDetails = context.info.heartbeatDetails;
    const send = context.heartbeat.bind(context);
    // Context.heartbeat is an instance property: wrapping it sees every heartbeat of the activity's code.
    (context as { heartbeat: (details?: unknown) => void }).heartbeat = (details?: unknown) => {
      this.lastDetails = details;
      send(details);
    };
  }

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const { info } = this.context;
    // Activities without a heartbeat timeout must not heartbeat (the SDK's rule): they only wait.
    const heartbeat = info.heartbeatTimeoutMs ? () => this.context.heartbeat(this.lastDetails) : undefined;
    const keepalive = heartbeat
      ? setInterval(heartbeat, Math.max(1000, info.heartbeatTimeoutMs! * KEEPALIVE_FRACTION))
      : undefined;
    keepalive?.unref();
    const untilTimeout = info.startToCloseTimeoutMs ? info.startToCloseTimeoutMs - TIMEOUT_MARGIN_MS : Infinity;
    let first = true;
    const budgetMs = Math.max(0, Math.min(this.options.infrastructureRetryMs, untilTimeout));
    try {
      return await outageDeadline.run({ deadline: Date.now() + budgetMs }, () =>
        retryInfrastructure(
          () => {
            if (!first) this.resumeFromLastHeartbeat();
            first = false;
            return next(input);
          },
          {
            budgetMs,
            onWait: heartbeat,
            signal: this.context.cancellationSignal,
            what: info.activityType,
          },
        ),
      );
    } finally {
      if (keepalive) clearInterval(keepalive);
    }
  }

  /** A rerun inside the attempt starts from what the failed run reported, as a new attempt would. */
  private resumeFromLastHeartbeat(): void {
    try {
      (this.context.info as { heartbeatDetails: unknown }).heartbeatDetails = this.lastDetails;
    } catch {
      /* a frozen info: the rerun starts from the attempt's own details */
    }
  }
}
