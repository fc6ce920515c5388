import { In, type DataSource } from 'typeorm';
import { TaskEntity } from '../entities';
import type { StepProgress } from '../../../../workflows/contract/types';

/** The `inference_tasks` table (rows are created with their inference: InferencesRepository.createWithTasks). */
export class TasksRepository {
  constructor(private readonly dataSource: DataSource) {}

  private get rows() {
    return this.dataSource.getRepository(TaskEntity);
  }

  findById(taskId: string): Promise<TaskEntity | null> {
    return this.rows.findOneBy({ taskId });
  }

  /** The tasks of an inference in task order. */
  listFor(inferenceId: string): Promise<TaskEntity[]> {
    return this.rows.find({ where: { inferenceId }, order: { taskIndex: 'ASC' } });
  }

  /** The task statuses of each inference (an entry for every id asked, empty when it has no tasks). */
  async statusesFor(inferenceIds: string[]): Promise<Map<string, string[]>> {
    const statuses = new Map<string, string[]>(inferenceIds.map((id) => [id, []]));
    if (inferenceIds.length === 0) return statuses;
    const rows = await this.rows.find({
      select: { inferenceId: true, status: true },
      where: { inferenceId: In(inferenceIds) },
    });
    for (const row of rows) statuses.get(row.inferenceId)?.push(row.status);
    return statuses;
  }

  /**
   * Sets the `progress` of one step of a task (the element of `pipeline_steps` whose process_id is `stepId`) and
   * nothing else: the new value is set into the row's current array by the UPDATE itself, so a status the
   * workflow wrote meanwhile stays (a concurrent write is re-read before this one applies). A step that has
   * already ended, or a task without that step, is left alone. Resolves whether the step was updated.
   */
  async setStepProgress(taskId: string, stepId: string, progress: StepProgress): Promise<boolean> {
    const [, updated]: [unknown, number] = await this.dataSource.query(
      `UPDATE inference_tasks
          SET pipeline_steps = jsonb_set(
                pipeline_steps,
                ARRAY[(SELECT (e.ord - 1)::text
                         FROM jsonb_array_elements(pipeline_steps) WITH ORDINALITY AS e(step, ord)
                        WHERE e.step->>'process_id' = $2
                        ORDER BY e.ord LIMIT 1), 'progress'],
                $3::jsonb)
        WHERE task_id = $1
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(pipeline_steps) AS e(step)
                       WHERE e.step->>'process_id' = $2
                         AND COALESCE(e.step->>'status', '') NOT IN ('FINISHED', 'FAILED', 'STOPPED'))`,
      [taskId, stepId, JSON.stringify(progress)],
    );
    return updated > 0;
  }
}
