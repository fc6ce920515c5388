import type { AppConfig } from '../../platform/config/config';
import type { InferenceEntity, TaskEntity, WebhookDeliveryEntity } from '../../platform/database/entities';
import { cocoUrl, workflowUiUrl } from '../../../workflows/contract/links';
import { countTasks } from '../../../workflows/contract/task-counts';
import type { PipelineStepState, TaskState } from '../../../workflows/contract/types';

/** The JSON of an inference: its row, the counts of its task statuses and its links. */
export function inferenceView(config: AppConfig, inference: InferenceEntity, statuses: string[]) {
  return {
    id: inference.id,
    model_display_name: inference.modelDisplayName,
    model_id: inference.modelId,
    description: inference.description,
    location: inference.location,
    spatial_domain: inference.spatialDomain,
    temporal_domain: inference.temporalDomain,
    maxcc: inference.maxcc,
    fine_tuning_id: inference.fineTuningId,
    generic_processor_id: inference.genericProcessorId,
    post_processing: inference.postProcessing,
    webhook_url: inference.webhookUrl,
    status: inference.status,
    status_message: inference.statusMessage,
    retries: inference.retries,
    ...countTasks(statuses),
    workflow_id: inference.workflowId,
    temporal_ui_url: workflowUiUrl(config.temporalUiUrl, config.TEMPORAL_NAMESPACE, inference.workflowId),
    coco_url: inference.cocoKey ? cocoUrl(config.publicBaseUrl, inference.id) : null,
    created_at: inference.createdAt.toISOString(),
    updated_at: inference.updatedAt.toISOString(),
    started_at: inference.startedAt?.toISOString() ?? null,
    finished_at: inference.finishedAt?.toISOString() ?? null,
    created_by: inference.createdBy,
  };
}

export type InferenceView = ReturnType<typeof inferenceView>;

/**
 * The workflow's live steps with each step's `progress`: the steps write it to the projection about every second
 * and signal it to the workflow every few seconds when they run longer, so the more advanced count is shown.
 */
function withProjectedProgress(live: PipelineStepState[], projected: PipelineStepState[]): PipelineStepState[] {
  const progress = new Map(projected.filter((step) => step.progress).map((step) => [step.process_id, step.progress]));
  // The workflow hears a long step's count every few seconds, the projection about every second: the further wins.
  return live.map((step) => {
    const stored = progress.get(step.process_id);
    if (!stored || (step.progress && step.progress.done > stored.done)) return step;
    return { ...step, progress: stored };
  });
}

/**
 * The JSON of a task: its row, overlaid by the workflow's live state of it while the inference runs. The
 * results export's entry (`outputs.results`: provenance, vectors, STAC Item) is the row's only: the workflow
 * state has no step for it.
 */
export function taskView(row: TaskEntity, live?: TaskState) {
  const results = row.outputs?.results;
  return {
    task_id: row.taskId,
    inference_id: row.inferenceId,
    task_index: row.taskIndex,
    status: live?.status ?? row.status,
    input: row.input,
    pipeline_steps: live ? withProjectedProgress(live.pipeline_steps, row.pipelineSteps) : row.pipelineSteps,
    output_key: live?.output_key ?? row.outputKey,
    message: live?.message ?? row.statusMessage,
    outputs: live
      ? {
          ...Object.fromEntries(
            live.pipeline_steps.filter((step) => step.result).map((step) => [step.process_id, step.result]),
          ),
          ...(results ? { results } : {}),
        }
      : (row.outputs ?? {}),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export function webhookDeliveryView(row: WebhookDeliveryEntity) {
  return {
    webhook_id: row.webhookId,
    event_type: row.eventType,
    attempt: row.attempt,
    attempted_at: row.attemptedAt.toISOString(),
    duration_ms: row.durationMs,
    status_code: row.statusCode,
    error: row.error,
    delivered: row.delivered,
    status: row.status,
  };
}
