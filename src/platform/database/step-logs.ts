import type { DataSource } from 'typeorm';
import { StepLogsRepository, type StepLogRow } from './repositories/step-logs.repository';

export type { StepLogRow } from './repositories/step-logs.repository';

/**
 * Writes the step logs of a process: rows flushed within the same few milliseconds (the tasks of grouped
 * activities finish together) go to PostgreSQL in one INSERT. Each write still resolves only once its row is
 * stored, so a finished step's log is durable.
 */
export class StepLogWriter {
  private pending: Array<{ row: StepLogRow; done: (error?: unknown) => void }> = [];
  private scheduled = false;
  private readonly rows: StepLogsRepository;

  constructor(dataSource: DataSource) {
    this.rows = new StepLogsRepository(dataSource);
  }

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
      await this.rows.insert(batch.map((entry) => entry.row));
      for (const entry of batch) entry.done();
    } catch (error) {
      if (batch.length === 1) return batch[0]!.done(error);
      // One bad row (its task deleted meanwhile) must not lose the others: insert them one by one.
      for (const entry of batch) await this.rows.insert([entry.row]).then(() => entry.done(), entry.done);
    }
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
