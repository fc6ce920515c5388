import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { InferenceEntity, TaskEntity } from '../src/platform/database/entities';
import type { InferenceStatus } from '../workflows/contract/status';
import { recordStepFinished, recordTaskFinished } from '../src/platform/metrics/metrics';
import type { TaskState } from '../workflows/contract/types';
import type { ActivityDeps } from './deps';

const FINAL = new Set(['FINISHED', 'FAILED', 'STOPPED']);

/** Metrics for steps and tasks that became final since the stored state (so a retried write counts once). */
function countTransitions(previous: Pick<TaskEntity, 'status' | 'pipelineSteps'> | null, task: TaskState): void {
  const before = new Map((previous?.pipelineSteps ?? []).map((step) => [step.step_number, step.status]));
  for (const step of task.pipeline_steps) {
    if (!FINAL.has(step.status) || before.get(step.step_number) === step.status) continue;
    const seconds =
      step.started_at && step.finished_at
        ? (Date.parse(step.finished_at) - Date.parse(step.started_at)) / 1000
        : undefined;
    recordStepFinished(step.process_id, step.status, seconds);
  }
  if (FINAL.has(task.status) && previous?.status !== task.status) recordTaskFinished(task.status);
}

/** The `outputs` column: each step's result by step id. */
function stepResults(task: TaskState): Record<string, unknown> {
  return Object.fromEntries(
    task.pipeline_steps.filter((step) => step.result).map((step) => [step.process_id, step.result]),
  );
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
  const activities = {
    /** One task's state (workflows started before grouped steps, and the task-by-task path). */
    async recordTaskState({ inferenceId, task }: { inferenceId: string; task: TaskState }): Promise<void> {
      await activities.recordTaskStates({ inferenceId, tasks: [task] });
    },

    /** Writes the state of several tasks in one SQL statement (grouped steps change tasks together). */
    async recordTaskStates({ tasks }: { inferenceId: string; tasks: TaskState[] }): Promise<void> {
      if (tasks.length === 0) return;
      const rows = tasks.map((task) => ({
        task_id: task.task_id,
        status: task.status,
        // The steps write their own progress into the projection (fresher than what they signal the workflow).
        pipeline_steps: task.pipeline_steps.map(({ progress: _signalled, ...step }) => step),
        output_key: task.output_key ?? null,
        current_key: task.current_key ?? null,
        status_message: task.message ?? null,
        outputs: stepResults(task),
      }));
      // Statements of one WITH see the same snapshot: `before` holds the states the update replaces. The
      // workflow's steps have no `progress` (the steps write it: runtime/step-progress.ts): a step's stored one stays.
      // The count is kept when the step ends (a finished step shows its last count) and dropped when it starts again.
      const before: Array<{
        task_id: string;
        status: TaskEntity['status'];
        pipeline_steps: TaskEntity['pipelineSteps'];
      }> = await deps.dataSource.query(
        `WITH incoming AS (
           SELECT * FROM jsonb_to_recordset($1::jsonb)
             AS r(task_id text, status text, pipeline_steps jsonb, output_key text, current_key text, status_message text, outputs jsonb)
         ),
         before AS (
           SELECT t.task_id, t.status, t.pipeline_steps FROM inference_tasks t JOIN incoming i ON i.task_id = t.task_id
         ),
         updated AS (
           UPDATE inference_tasks t
              SET status = i.status,
                  pipeline_steps = COALESCE((
                    SELECT jsonb_agg(CASE WHEN n.step ? 'progress' OR p.progress IS NULL
                                               OR (n.step->>'status' = 'RUNNING' AND p.status IS DISTINCT FROM 'RUNNING')
                                          THEN n.step
                                          ELSE n.step || jsonb_build_object('progress', p.progress) END ORDER BY n.ord)
                      FROM jsonb_array_elements(i.pipeline_steps) WITH ORDINALITY AS n(step, ord)
                      LEFT JOIN LATERAL (
                        SELECT o.step->'progress' AS progress, o.step->>'status' AS status
                          FROM jsonb_array_elements(t.pipeline_steps) AS o(step)
                         WHERE o.step->>'process_id' = n.step->>'process_id' LIMIT 1
                      ) p ON true
                  ), i.pipeline_steps),
                  output_key = i.output_key, current_key = i.current_key,
                  status_message = i.status_message, outputs = i.outputs, updated_at = now()
             FROM incoming i
            WHERE t.task_id = i.task_id
           RETURNING t.task_id
         )
         SELECT before.* FROM before JOIN updated USING (task_id)`,
        [JSON.stringify(rows)],
      );
      const previous = new Map(
        before.map((row) => [row.task_id, { status: row.status, pipelineSteps: row.pipeline_steps }]),
      );
      for (const task of tasks) countTransitions(previous.get(task.task_id) ?? null, task);
    },

    async recordInferenceState(request: RecordInferenceStateRequest): Promise<void> {
      const changes: QueryDeepPartialEntity<InferenceEntity> = {
        status: request.status,
        statusMessage: request.message ?? null,
      };
      if (request.startedAt) changes.startedAt = new Date(request.startedAt);
      if (request.finishedAt) changes.finishedAt = new Date(request.finishedAt);
      await deps.dataSource.getRepository(InferenceEntity).update({ id: request.inferenceId }, changes);
    },
  };
  return activities;
}
