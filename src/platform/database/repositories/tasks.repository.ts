import { In, type DataSource } from 'typeorm';
import { TaskEntity } from '../entities';

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
}
