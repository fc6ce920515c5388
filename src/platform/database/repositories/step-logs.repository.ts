import type { DataSource } from 'typeorm';

/** One attempt of a task's step and what it logged. */
export interface StepLogRow {
  taskId: string;
  stepId: string;
  attempt: number;
  startedAt: Date;
  text: string;
}

/** The `step_logs` table: one row per attempt of a task's step. */
export class StepLogsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Inserts the rows in one statement. */
  async insert(rows: StepLogRow[]): Promise<void> {
    const values: unknown[] = [];
    const tuples = rows.map((row, index) => {
      values.push(row.taskId, row.stepId, row.attempt, row.startedAt, row.text);
      const at = index * 5;
      return `($${at + 1}, $${at + 2}, $${at + 3}, $${at + 4}, $${at + 5})`;
    });
    await this.dataSource.query(
      `INSERT INTO step_logs (task_id, step_id, attempt, started_at, text) VALUES ${tuples.join(', ')}`,
      values,
    );
  }

  /** The texts a step logged, attempt after attempt, in the order they were written. */
  async texts(taskId: string, stepId: string): Promise<string[]> {
    const rows: Array<{ text: string }> = await this.dataSource.query(
      `SELECT text FROM step_logs WHERE task_id = $1 AND step_id = $2 ORDER BY id`,
      [taskId, stepId],
    );
    return rows.map((row) => row.text);
  }
}
