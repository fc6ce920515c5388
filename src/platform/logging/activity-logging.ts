import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';
import type { Logger } from 'pino';
import { STEP_OF_ACTIVITY as STEP_OF_STEP_ACTIVITY } from '../../../workflows/contract/steps';
import { rootLogger } from './logger';

/** Pipeline step of each activity type (from the step registry), or what the workflow's own activities do. */
const STEP_OF_ACTIVITY: Record<string, string> = {
  ...STEP_OF_STEP_ACTIVITY,
  recordTaskState: 'projection',
  recordTaskStates: 'projection',
  recordInferenceState: 'projection',
  deliverWebhook: 'webhook',
  exportCoco: 'coco-export',
};

export interface ActivityLogBindings {
  inference_id?: string;
  task_id?: string;
  step: string;
  activity: string;
  attempt: number;
  workflow_id: string;
}

/**
 * Ids of an activity call, read from its first argument: activities take `{ inferenceId, taskId }`
 * or `{ inferenceId, task: { task_id } }`, and may name their step with `stepId`/`processId`.
 */
export function activityLogBindings(context: Context, args: unknown[]): ActivityLogBindings {
  const request = (typeof args[0] === 'object' && args[0] !== null ? args[0] : {}) as Record<string, unknown>;
  const task = (typeof request.task === 'object' && request.task !== null ? request.task : {}) as Record<
    string,
    unknown
  >;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const type = context.info.activityType;
  return {
    inference_id: text(request.inferenceId) ?? text(request.inference_id),
    task_id: text(request.taskId) ?? text(request.task_id) ?? text(task.task_id),
    step: text(request.stepId) ?? text(request.processId) ?? STEP_OF_ACTIVITY[type] ?? type,
    activity: type,
    attempt: context.info.attempt,
    workflow_id: context.info.workflowExecution?.workflowId ?? '',
  };
}

const current = new AsyncLocalStorage<Logger>();

/**
 * The logger of the running activity: every line carries inference_id, task_id, step, attempt and
 * workflow_id. Outside an activity it is the root logger. Use it (or Temporal's `log` from
 * @temporalio/activity, which gets the same attributes) in activities.
 */
export function activityLogger(): Logger {
  return current.getStore() ?? rootLogger();
}

/** Runs one task of a grouped activity with the activity's logger bound to that task's id. */
export function withTaskLogger<T>(taskId: string, body: () => Promise<T>): Promise<T> {
  return current.run(activityLogger().child({ task_id: taskId }), body);
}

/**
 * Worker interceptor: runs each activity with its bound logger, logs start / completion (with
 * duration) / failure, and adds the same ids to Temporal's activity `log` lines.
 */
export function activityLoggingInterceptor(context: Context): ActivityInterceptors {
  let bindings: ActivityLogBindings | undefined;
  return {
    inbound: {
      async execute(input, next) {
        bindings = activityLogBindings(context, input.args);
        const logger = rootLogger().child(bindings);
        const started = Date.now();
        logger.info('activity started');
        try {
          const result = await current.run(logger, () => next(input));
          logger.info({ duration_ms: Date.now() - started }, 'activity completed');
          return result;
        } catch (error) {
          const cancelled = (error as Error)?.name === 'CancelledFailure';
          // Message and type only: the SDK's own "Activity failed" line (same fields) carries the stack.
          const failure = {
            name: (error as Error)?.name,
            message: (error as Error)?.message ?? String(error),
            type: (error as { type?: string })?.type,
          };
          logger[cancelled ? 'info' : 'warn'](
            { duration_ms: Date.now() - started, error: failure },
            cancelled ? 'activity cancelled' : 'activity failed',
          );
          throw error;
        }
      },
    },
    outbound: {
      getLogAttributes(input, next) {
        return next({ ...input, ...(bindings ?? {}) });
      },
    },
  };
}
