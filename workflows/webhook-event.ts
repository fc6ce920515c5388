import {
  cocoUrl,
  inferenceTasksUrl,
  inferenceUrl,
  stacCollectionUrl,
  stacItemUrl,
  taskOutputUrl,
  vectorsUrl,
  workflowUiUrl,
} from './contract/links';
import { countTasks } from './contract/task-counts';
import type { InferenceWorkflowState, WebhookPlan } from './contract/types';

export type InferenceEventType = 'inference.completed' | 'inference.failed' | 'inference.stopped';

/** Where the event was raised: the inference's workflow and when. */
export interface WebhookEventSource {
  inferenceId: string;
  namespace: string;
  timestamp: string;
}

/** The final summary of an inference sent to its webhook: task outcomes and links into the API and the Web UI. */
export function webhookEvent(plan: WebhookPlan, state: InferenceWorkflowState, source: WebhookEventSource) {
  const api = plan.apiBaseUrl;
  return {
    type: `inference.${state.status.toLowerCase()}` as InferenceEventType,
    timestamp: source.timestamp,
    data: {
      inference_id: source.inferenceId,
      status: state.status,
      message: state.message ?? null,
      ...countTasks(state.tasks.map((task) => task.status)),
      tasks: state.tasks.map((task) => ({
        task_id: task.task_id,
        status: task.status,
        message: task.message ?? null,
        output_url: task.output_key ? taskOutputUrl(api, task.task_id) : null,
        // Only with a results export (inferences started before it have none).
        ...(state.results?.key && task.status === 'FINISHED' && task.output_key
          ? { stac_item_url: stacItemUrl(api, source.inferenceId, task.task_id) }
          : {}),
      })),
      coco_url: state.coco?.key ? cocoUrl(api, source.inferenceId) : null,
      ...(state.coco?.skipped ? { coco_skipped: state.coco.skipped } : {}),
      ...(state.results
        ? {
            stac_url: state.results.key ? stacCollectionUrl(api, source.inferenceId) : null,
            vectors_url: state.results.key ? vectorsUrl(api, source.inferenceId, 'geojson') : null,
            vector_features: state.results.features ?? null,
            results_error: state.results.error ?? null,
          }
        : {}),
      links: {
        inference: inferenceUrl(api, source.inferenceId),
        tasks: inferenceTasksUrl(api, source.inferenceId),
        temporal_ui: workflowUiUrl(plan.temporalUiUrl, source.namespace, source.inferenceId),
      },
    },
  };
}
