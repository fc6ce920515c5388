import { ApplicationFailure } from '@temporalio/activity';
import { NON_RETRYABLE_ERROR_TYPES } from '../../workflows/contract/errors';
import { activityLogger, withTaskLogger } from '../../src/platform/logging/activity-logging';
import { currentActivity, runAsGroupItem } from './activity-context';
import { toTemporalFailure } from './step-failure';
import { retryInfrastructureWithinActivity } from './infrastructure-retry';
import type { GroupItem, GroupItemOutcome, GroupStepResult } from '../../workflows/contract/step-groups';

export type {
  GroupItem,
  GroupItemFailure,
  GroupItemOutcome,
  GroupItemSuccess,
  GroupStepResult,
} from '../../workflows/contract/step-groups';
import { runLimited } from '../../src/geo/concurrency';

/**
 * Grouped steps: one activity runs the same step for several tasks of an inference, so a 1,000-file job
 * costs Temporal, the DB projection and the worker a few hundred activities instead of thousands. Each task
 * keeps its own outcome: a bad file fails its own task, never the group.
 */

/** Heartbeat details of a grouped activity: what a retried attempt (another worker) must not redo. */
interface GroupProgress<T> {
  done: GroupItemOutcome<T>[];
  running: Record<string, unknown>;
}

// WorkerConfigurationError is thrown with the nonRetryable flag, which the check below reads as well.
const NON_RETRYABLE_TYPES = new Set(NON_RETRYABLE_ERROR_TYPES);

function describeFailure(thrown: unknown): { message: string; error_type?: string; retryable: boolean } {
  const error = toTemporalFailure(thrown);
  if (error instanceof ApplicationFailure) {
    return {
      message: error.message,
      error_type: error.type ?? undefined,
      retryable: !(error.nonRetryable || NON_RETRYABLE_TYPES.has(error.type ?? '')),
    };
  }
  if (error instanceof Error) return { message: error.message || error.name, error_type: error.name, retryable: true };
  return { message: String(error), retryable: true };
}

/**
 * Runs `body` for every item, at most `concurrency` at a time, and returns one outcome per item (in item
 * order). A retried attempt reuses the outcomes its predecessor reported in heartbeats. Cancellation of the
 * activity is not an item failure: it cancels the whole group.
 */
export async function runGroupItems<I extends GroupItem, T>(
  items: I[],
  concurrency: number,
  body: (item: I) => Promise<T>,
): Promise<GroupStepResult<T>> {
  const context = currentActivity();
  const previous = context?.info.heartbeatDetails as GroupProgress<T> | undefined;
  const outcomes = new Map<string, GroupItemOutcome<T>>(
    (previous?.done ?? []).map((outcome) => [outcome.task_id, outcome]),
  );
  const running: Record<string, unknown> = {};
  const beat = () => context?.heartbeat({ done: [...outcomes.values()], running } satisfies GroupProgress<T>);
  const pending = items.filter((item) => !outcomes.has(item.taskId));
  await runLimited(pending.length, concurrency, async (index) => {
    const item = pending[index]!;
    context?.cancellationSignal.throwIfAborted();
    const startedAt = new Date().toISOString();
    running[item.taskId] = 'started';
    beat();
    try {
      const progress = (details: unknown) => {
        running[item.taskId] = details;
        beat();
      };
      // An outage of storage or the database is waited out for this task, not recorded as its failure.
      const result = await withTaskLogger(item.taskId, () =>
        runAsGroupItem({ taskId: item.taskId, heartbeat: progress }, () =>
          retryInfrastructureWithinActivity(() => body(item), {
            onWait: beat,
            signal: context?.cancellationSignal,
            what: `task ${item.taskId}`,
          }),
        ),
      );
      outcomes.set(item.taskId, {
        task_id: item.taskId,
        ok: true,
        result,
        started_at: startedAt,
        finished_at: new Date().toISOString(),
      });
    } catch (error) {
      if (context?.cancellationSignal.aborted) throw context.cancellationSignal.reason ?? error;
      const failure = describeFailure(error);
      activityLogger().warn({ task_id: item.taskId, error: failure }, 'task failed inside a grouped step');
      outcomes.set(item.taskId, {
        task_id: item.taskId,
        ok: false,
        ...failure,
        started_at: startedAt,
        finished_at: new Date().toISOString(),
      });
    } finally {
      delete running[item.taskId];
    }
    beat();
  });
  return { items: items.map((item) => outcomes.get(item.taskId)!) };
}
