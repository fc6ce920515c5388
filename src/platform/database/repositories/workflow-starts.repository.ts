import type { DataSource, EntityManager } from 'typeorm';
import type { InferenceWorkflowInput } from '../../../../workflows/contract/types';

/** What the outbox holds to start the workflow of an inference (its id is the inference id). */
export interface NewWorkflowStart {
  input: InferenceWorkflowInput;
  /** The user the inference belongs to (a search attribute of the run). */
  createdBy: string;
  /** How long the creating process keeps the row for its own immediate start before others may take it. */
  leaseMs: number;
}

export interface PendingWorkflowStart {
  inferenceId: string;
  input: InferenceWorkflowInput;
  createdBy: string;
  /** Failed starts so far. */
  attempts: number;
}

interface Row {
  inference_id: string;
  input: InferenceWorkflowInput;
  created_by: string;
  attempts: number;
}

const toPending = (row: Row): PendingWorkflowStart => ({
  inferenceId: row.inference_id,
  input: row.input,
  createdBy: row.created_by,
  attempts: row.attempts,
});

/** Inserts the outbox row of a new inference, inside the transaction that creates it. */
export async function insertWorkflowStart(
  manager: EntityManager,
  inferenceId: string,
  start: NewWorkflowStart,
): Promise<void> {
  await manager.query(
    `INSERT INTO workflow_starts (inference_id, input, created_by, next_attempt_at)
     VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')`,
    [inferenceId, JSON.stringify(start.input), start.createdBy, start.leaseMs],
  );
}

/**
 * The `workflow_starts` outbox: workflows still to be started. `next_attempt_at` is the time a row is due, and
 * claiming a row moves it `leaseMs` into the future, so API processes sharing the database do not start the same
 * row at once (a second start of one id would be refused by Temporal anyway).
 */
export class WorkflowStartsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Up to `limit` due rows, oldest due first, each claimed for `leaseMs`. */
  async claimDue(limit: number, leaseMs: number, exclude: string[] = []): Promise<PendingWorkflowStart[]> {
    const [rows]: [Row[], number] = await this.dataSource.query(
      `UPDATE workflow_starts SET next_attempt_at = now() + $2 * interval '1 millisecond'
       WHERE inference_id IN (
         SELECT inference_id FROM workflow_starts
         WHERE next_attempt_at <= now() AND NOT (inference_id = ANY($3::uuid[]))
         ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING inference_id, input, created_by, attempts`,
      [limit, leaseMs, exclude],
    );
    return rows.map(toPending);
  }

  /** The row of one inference, claimed for `leaseMs` whether due or not; null when it has none (started). */
  async claim(inferenceId: string, leaseMs: number): Promise<PendingWorkflowStart | null> {
    const [rows]: [Row[], number] = await this.dataSource.query(
      `UPDATE workflow_starts SET next_attempt_at = now() + $2 * interval '1 millisecond'
       WHERE inference_id = $1 RETURNING inference_id, input, created_by, attempts`,
      [inferenceId, leaseMs],
    );
    return rows[0] ? toPending(rows[0]) : null;
  }

  /** The workflow has started: the row goes. */
  async done(inferenceId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM workflow_starts WHERE inference_id = $1`, [inferenceId]);
  }

  /** A start failed: counted, its reason kept, due again in `retryInMs`. */
  async failed(inferenceId: string, reason: string, retryInMs: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE workflow_starts SET attempts = attempts + 1, last_error = $2,
         next_attempt_at = now() + $3 * interval '1 millisecond'
       WHERE inference_id = $1`,
      [inferenceId, reason.slice(0, 2000), retryInMs],
    );
  }

  /** How many workflows wait to be started, and how old the oldest row is (seconds). */
  async backlog(): Promise<{ count: number; oldestSeconds: number }> {
    const rows: Array<{ count: string; oldest: string | null }> = await this.dataSource.query(
      `SELECT count(*) AS count, extract(epoch FROM now() - min(created_at)) AS oldest FROM workflow_starts`,
    );
    return { count: Number(rows[0]?.count ?? 0), oldestSeconds: Number(rows[0]?.oldest ?? 0) };
  }
}
