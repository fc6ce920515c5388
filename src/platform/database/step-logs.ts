import type { DataSource } from 'typeorm';
import type { ObjectStore } from '../storage/object-store';
import { storageKeys } from '../storage/keys';

/** Step logs in PostgreSQL (step_logs): one row per attempt of a task's step. */

export interface StepLogRow {
  taskId: string;
  stepId: string;
  attempt: number;
  startedAt: Date;
  text: string;
}

/**
 * Writes the step logs of a process: rows flushed within the same few milliseconds (the tasks of grouped
 * activities finish together) go to PostgreSQL in one INSERT. Each write still resolves only once its row is
 * stored, so a finished step's log is durable.
 */
export class StepLogWriter {
  private pending: Array<{ row: StepLogRow; done: (error?: unknown) => void }> = [];
  private scheduled = false;

  constructor(private readonly dataSource: DataSource) {}

  write(row: StepLogRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ row, done: (error) => (error ? reject(error) : resolve()) });
      if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(() => void this.insertPending(), STEP_LOG_BATCH_MS);
      }
    });
  }

  private async insertPending(): Promise<void> {
    const batch = this.pending.splice(0, STEP_LOG_BATCH_ROWS);
    this.scheduled = this.pending.length > 0;
    if (this.scheduled) setTimeout(() => void this.insertPending(), 0);
    try {
      await this.insert(batch.map((entry) => entry.row));
      for (const entry of batch) entry.done();
    } catch (error) {
      if (batch.length === 1) return batch[0]!.done(error);
      // One bad row (its task deleted meanwhile) must not lose the others: insert them one by one.
      for (const entry of batch) await this.insert([entry.row]).then(() => entry.done(), entry.done);
    }
  }

  private async insert(rows: StepLogRow[]): Promise<void> {
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
}

/** How long a log row waits for others to share its INSERT, and at most how many share one. */
const STEP_LOG_BATCH_MS = 5;
const STEP_LOG_BATCH_ROWS = 200;

const logWriters = new WeakMap<DataSource, StepLogWriter>();

export function stepLogWriterFor(dataSource: DataSource): StepLogWriter {
  let writer = logWriters.get(dataSource);
  if (!writer) {
    writer = new StepLogWriter(dataSource);
    logWriters.set(dataSource, writer);
  }
  return writer;
}

/**
 * The whole log of a step, every attempt in order (the object of versions before step_logs first);
 * undefined when the step has not logged anything yet.
 */
export async function readStepLog(
  dataSource: DataSource,
  store: ObjectStore,
  inferenceId: string,
  taskId: string,
  stepId: string,
): Promise<string | undefined> {
  const legacyKey = storageKeys.legacyStepLog(inferenceId, taskId, stepId);
  const [legacy, rows] = await Promise.all([
    store.exists(legacyKey),
    dataSource.query(`SELECT text FROM step_logs WHERE task_id = $1 AND step_id = $2 ORDER BY id`, [
      taskId,
      stepId,
    ]) as Promise<Array<{ text: string }>>,
  ]);
  if (!legacy && rows.length === 0) return undefined;
  const before = legacy ? (await store.getObject(legacyKey)).toString('utf8') : '';
  return before + rows.map((row) => row.text).join('');
}
