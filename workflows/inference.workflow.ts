import {
  CancellationScope,
  CancelledFailure,
  defineQuery,
  defineSignal,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities } from '../activities';
import { NON_RETRYABLE_ERROR_TYPES } from './contract/errors';
import { EXPORT_ACTIVITY_PRESET, LOST_WORKER_HEARTBEAT_TIMEOUT } from './contract/steps';
import { INFERENCE_STATUS } from './contract/search-attributes';
import {
  INFERENCE_STATUS_QUERY,
  STEP_PROGRESS_SIGNAL,
  type StepProgressSignal,
  type InferenceWorkflowInput,
  type InferenceWorkflowState,
  type TaskBatchWorkflowInput,
  type TaskBatchWorkflowResult,
  type WebhookPlan,
} from './contract/types';
import { failureMessage } from './interpreter';
import { projection } from './projection';
import { runTaskBatches, runTasks } from './scheduling';
import { applyStepProgress, initialTaskState, now, settleInference, taskOutcomes } from './task-state';
import { webhookEvent } from './webhook-event';

export const inferenceStatusQuery = defineQuery<InferenceWorkflowState>(INFERENCE_STATUS_QUERY);
/** Progress of a running step (activities/runtime/step-progress.ts); it only updates the state the query shows. */
export const stepProgressSignal = defineSignal<[StepProgressSignal]>(STEP_PROGRESS_SIGNAL);

/** Inferences above this many tasks run them in child workflows, keeping every history far below its limits. */
const DEFAULT_BATCH_SIZE = 100;

/**
 * One workflow per inference (workflow id = inference id). Each task runs the step plan in order; steps
 * pass object-storage keys. Live state is served by the `inferenceStatus` query and projected to the DB.
 */
export async function inferenceWorkflow(input: InferenceWorkflowInput): Promise<InferenceWorkflowState> {
  const state: InferenceWorkflowState = {
    inference_id: input.inferenceId,
    status: 'RUNNING',
    tasks: input.tasks.map((plan) => initialTaskState(input.steps, plan, input.resume?.[plan.task_index])),
  };
  setHandler(inferenceStatusQuery, () => state);
  setHandler(stepProgressSignal, (update) => applyStepProgress(state.tasks, update));

  await projection().recordInferenceState({ inferenceId: input.inferenceId, status: 'RUNNING', startedAt: now() });
  if (input.searchAttributes) upsertSearchAttributes([{ key: INFERENCE_STATUS, value: 'RUNNING' }]);

  const batchSize = input.batchSize ?? DEFAULT_BATCH_SIZE;
  const cancelled =
    input.tasks.length <= batchSize
      ? await runTasks(input, input.tasks, state.tasks)
      : await runTaskBatches(input, state, batchSize);
  // COCO export of the finished masks, before the final status so COMPLETED means the export exists.
  if (!cancelled && patched('coco-export')) state.coco = await exportCoco(input);
  // STAC catalog, vectors and input previews, after COCO (the Items link it); also before the final status.
  if (!cancelled && patched('results-export')) state.results = await exportResults(input);
  settleInference(state, cancelled);
  await CancellationScope.nonCancellable(() =>
    projection().recordInferenceState({
      inferenceId: input.inferenceId,
      status: state.status,
      message: state.message,
      finishedAt: now(),
    }),
  );
  if (input.searchAttributes) upsertSearchAttributes([{ key: INFERENCE_STATUS, value: state.status }]);
  // Stopped inferences notify too, so the webhook runs outside the cancelled scope.
  if (input.webhook) await CancellationScope.nonCancellable(() => notifyWebhook(input, input.webhook!, state));
  // Closing as cancelled (not completed) is what the Web UI and the history show for a stopped inference.
  if (cancelled) throw new CancelledFailure('inference stopped');
  // A batched inference's steps are in the DB projection; its result keeps each task's outcome only, so
  // thousands of tasks stay far below the 2 MB payload limit.
  if (input.tasks.length > batchSize) return { ...state, tasks: taskOutcomes(state.tasks) };
  return state;
}

/**
 * Child workflow: runs one batch of an inference's tasks (step status goes to the DB projection as it
 * changes). A stop reaches it as cancellation; it then returns its STOPPED tasks rather than failing.
 */
export async function inferenceTaskBatchWorkflow(input: TaskBatchWorkflowInput): Promise<TaskBatchWorkflowResult> {
  const states = input.tasks.map((plan, index) => initialTaskState(input.parent.steps, plan, input.resume?.[index]));
  setHandler(stepProgressSignal, (update) => applyStepProgress(states, update));
  const cancelled = await runTasks(input.parent, input.tasks, states);
  return { tasks: states, cancelled };
}

/**
 * A failed export is reported on the state (and the webhook); it never changes the inference's status. It
 * starts only when every task has ended, so a stop arriving meanwhile lets it finish (non-cancellable).
 */
async function exportCoco(input: InferenceWorkflowInput): Promise<InferenceWorkflowState['coco']> {
  const { exportCoco: run } = proxyActivities<PipelineActivities>(EXPORT_ACTIVITY_PRESET);
  try {
    const result = await CancellationScope.nonCancellable(() =>
      run({ inferenceId: input.inferenceId, modelId: input.modelId }),
    );
    // Regression outputs have no object classes: the export says why it wrote nothing.
    if (result.skipped && patched('coco-export-skips-regression')) return { skipped: result.skipped };
    return { key: result.cocoKey, annotations: result.annotations };
  } catch (error) {
    return { error: failureMessage(error) };
  }
}

/** Like the COCO export: a failure is reported on the state and the webhook, never on the inference's status. */
async function exportResults(input: InferenceWorkflowInput): Promise<InferenceWorkflowState['results']> {
  const { exportResults: run } = proxyActivities<PipelineActivities>(EXPORT_ACTIVITY_PRESET);
  try {
    const result = await CancellationScope.nonCancellable(() =>
      run({
        inferenceId: input.inferenceId,
        modelId: input.modelId,
        ...(input.processor ? { processor: input.processor } : {}),
      }),
    );
    return { key: result.collectionKey, items: result.items, features: result.features };
  } catch (error) {
    return { error: failureMessage(error) };
  }
}

/** Sends the final summary to the inference's webhook; a failed delivery never changes the inference status. */
async function notifyWebhook(
  input: InferenceWorkflowInput,
  plan: WebhookPlan,
  state: InferenceWorkflowState,
): Promise<void> {
  // Heartbeats (the worker's keep-alive) move a delivery of a lost worker on within ~20 s; the call itself is
  // bounded by WEBHOOK_TIMEOUT_MS, the start-to-close timeout leaves room for waiting out a database outage.
  const webhookActivities = proxyActivities<PipelineActivities>({
    startToCloseTimeout: '15 minutes',
    heartbeatTimeout: LOST_WORKER_HEARTBEAT_TIMEOUT,
    retry: {
      initialInterval: plan.initialIntervalSeconds * 1000,
      backoffCoefficient: 2,
      maximumInterval: plan.maximumIntervalSeconds * 1000,
      maximumAttempts: plan.maximumAttempts,
      nonRetryableErrorTypes: ['WebhookRejected'],
    },
  });
  const event = webhookEvent(plan, state, {
    inferenceId: input.inferenceId,
    namespace: workflowInfo().namespace,
    timestamp: now(),
  });
  state.webhook = { status: 'SENDING' };
  try {
    // The run id keeps the id stable across retries of this delivery but new for a reset or rerun.
    const result = await webhookActivities.deliverWebhook({
      inferenceId: input.inferenceId,
      webhookId: `msg_${workflowInfo().runId}`,
      event,
    });
    state.webhook = result.delivered ? { status: 'DELIVERED' } : { status: 'SKIPPED', message: result.skipped };
  } catch (error) {
    state.webhook = { status: 'FAILED', message: failureMessage(error) };
  }
}
