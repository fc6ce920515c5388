import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { InferenceEntity, TaskEntity } from '../src/database/entities';
import type { InferenceStatus } from '../src/common/status';
import type { TaskState } from '../workflows/types';
import type { ActivityDeps } from './deps';

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
    },

    async recordInferenceState(request: RecordInferenceStateRequest): Promise<void> {
      const changes: QueryDeepPartialEntity<InferenceEntity> = { status: request.status, statusMessage: request.message ?? null };
      if (request.startedAt) changes.startedAt = new Date(request.startedAt);
      if (request.finishedAt) changes.finishedAt = new Date(request.finishedAt);
      await deps.dataSource.getRepository(InferenceEntity).update({ id: request.inferenceId }, changes);
    },
  };
}
