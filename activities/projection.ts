import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { InferenceEntity, TaskEntity } from '../src/database/entities';
import type { InferenceStatus } from '../src/common/status';
import { recordStepFinished, recordTaskFinished } from '../src/metrics/metrics';
import type { TaskState } from '../workflows/types';
import type { ActivityDeps } from './deps';

const FINAL = new Set(['FINISHED', 'FAILED', 'STOPPED']);

/** Metrics for steps and tasks that became final since the stored state (so a retried write counts once). */
function countTransitions(previous: Pick<TaskEntity, 'status' | 'pipelineSteps'> | null, task: TaskState): void {
  const before = new Map((previous?.pipelineSteps ?? []).map((step) => [step.step_number, step.status]));
  for (const step of task.pipeline_steps) {
    if (!FINAL.has(step.status) || before.get(step.step_number) === step.status) continue;
    const seconds = step.started_at && step.finished_at ? (Date.parse(step.finished_at) - Date.parse(step.started_at)) / 1000 : undefined;
    recordStepFinished(step.process_id, step.status, seconds);
  }
  if (FINAL.has(task.status) && previous?.status !== task.status) recordTaskFinished(task.status);
}

export interface RecordInferenceStateRequest {
  inferenceId: string;
  status: InferenceStatus;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
}

/** Keeps the DB projection of workflow state, so lists and closed inferences are served without Temporal. */
export function createProjectionActivities(deps: ActivityDeps) {
  return {
    async recordTaskState({ task }: { inferenceId: string; task: TaskState }): Promise<void> {
      const previous = await deps.dataSource.getRepository(TaskEntity).findOne({ where: { taskId: task.task_id }, select: { taskId: true, status: true, pipelineSteps: true } });
      await deps.dataSource.getRepository(TaskEntity).update(
        { taskId: task.task_id },
        {
          status: task.status,
          // jsonb columns: TypeORM's deep-partial type does not model JSON documents.
          pipelineSteps: task.pipeline_steps as QueryDeepPartialEntity<TaskEntity>['pipelineSteps'],
          outputKey: task.output_key ?? null,
          currentKey: task.current_key ?? null,
          statusMessage: task.message ?? null,
          outputs: Object.fromEntries(task.pipeline_steps.filter((step) => step.result).map((step) => [step.process_id, step.result])),
        },
      );
      countTransitions(previous, task);
    },

    async recordInferenceState(request: RecordInferenceStateRequest): Promise<void> {
      const changes: QueryDeepPartialEntity<InferenceEntity> = { status: request.status, statusMessage: request.message ?? null };
      if (request.startedAt) changes.startedAt = new Date(request.startedAt);
      if (request.finishedAt) changes.finishedAt = new Date(request.finishedAt);
      await deps.dataSource.getRepository(InferenceEntity).update({ id: request.inferenceId }, changes);
    },
  };
}
