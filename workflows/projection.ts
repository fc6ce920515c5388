import { patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities';
import type { TaskState } from './contract/types';

// Projection writes must eventually succeed (the REST API reads them), so they retry without limit.
const projectionActivities = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

// The same writes as local activities: run by the workflow's own worker inside the workflow task, without
// a round trip through the server for each (several per task). Workflows started before this change keep
// the activities (patched), so their histories replay.
const localProjectionActivities = proxyLocalActivities<PipelineActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** The DB projection's activities (the API reads task and inference states from there). */
export function projection(): typeof projectionActivities {
  return patched('local-projection') ? localProjectionActivities : projectionActivities;
}

export async function projectTask(inferenceId: string, task: TaskState): Promise<void> {
  await projection().recordTaskState({ inferenceId, task });
}

export async function projectTasks(inferenceId: string, tasks: TaskState[]): Promise<void> {
  if (tasks.length > 0) await projection().recordTaskStates({ inferenceId, tasks });
}
