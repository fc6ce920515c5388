import type { AppConfig } from '../../platform/config/config';
import type { StepId } from '../../../workflows/contract/status';
import type { InferenceWorkflowInput, ProcessorPlan, TaskPlan, TaskState } from '../../../workflows/contract/types';

export interface WorkflowRun {
  inferenceId: string;
  modelId: string;
  tasks: TaskPlan[];
  steps: StepId[];
  webhookUrl?: string | null;
  processor?: ProcessorPlan;
  /** A retry: the task states of the previous run. */
  resume?: TaskState[];
}

/** The input of an inference's workflow run: its tasks and steps, with the deployment's concurrency and queues. */
export function workflowInput(config: AppConfig, run: WorkflowRun): InferenceWorkflowInput {
  return {
    processor: run.processor,
    searchAttributes: config.TEMPORAL_SEARCH_ATTRIBUTES || undefined,
    inferenceId: run.inferenceId,
    modelId: run.modelId,
    tasks: run.tasks,
    steps: run.steps,
    taskConcurrency: config.INFERENCE_TASK_CONCURRENCY,
    batchSize: config.INFERENCE_BATCH_TASKS,
    batchConcurrency: config.INFERENCE_BATCH_CONCURRENCY,
    stepGroupSize: config.INFERENCE_STEP_GROUP_SIZE,
    stepGroupValues: Math.round(config.INFERENCE_STEP_GROUP_MEGAVALUES * 1e6),
    taskQueues: {
      fetch: config.taskQueues.fetch,
      model: config.taskQueues.model,
      processor: config.taskQueues.processor,
    },
    webhook: run.webhookUrl
      ? {
          apiBaseUrl: config.publicBaseUrl,
          temporalUiUrl: config.temporalUiUrl,
          maximumAttempts: config.WEBHOOK_MAX_ATTEMPTS,
          initialIntervalSeconds: config.WEBHOOK_INITIAL_INTERVAL_SECONDS,
          maximumIntervalSeconds: config.WEBHOOK_MAX_INTERVAL_SECONDS,
        }
      : undefined,
    ...(run.resume ? { resume: run.resume } : {}),
  };
}
