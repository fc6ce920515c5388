import type { DataSource } from 'typeorm';
import type { InferenceEventType } from '../../../workflows/contract/events';

/** NOTIFY channel of the inference_events triggers; the payload is "<inference id> <latest seq>". */
export const INFERENCE_EVENTS_CHANNEL = 'inference_events';

/** One row of inference_events as the triggers wrote it (task.output holds only the task id). */
export interface StoredInferenceEvent {
  seq: number;
  type: InferenceEventType;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** Events of one inference after `afterSeq`, in seq order. */
export async function readInferenceEvents(
  dataSource: DataSource,
  inferenceId: string,
  afterSeq: number,
  limit: number,
): Promise<StoredInferenceEvent[]> {
  const rows: Array<{ seq: string; type: InferenceEventType; data: Record<string, unknown>; created_at: Date }> =
    await dataSource.query(
      `SELECT seq, type, data, created_at FROM inference_events
        WHERE inference_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [inferenceId, afterSeq, limit],
    );
  return rows.map((row) => ({ seq: Number(row.seq), type: row.type, data: row.data, createdAt: row.created_at }));
}

/** The last seq of an inference (0 before its first event). */
export async function lastInferenceEventSeq(dataSource: DataSource, inferenceId: string): Promise<number> {
  const rows: Array<{ last_seq: string }> = await dataSource.query(
    `SELECT last_seq FROM inference_event_seqs WHERE inference_id = $1`,
    [inferenceId],
  );
  return rows.length ? Number(rows[0].last_seq) : 0;
}

export function parseEventNotification(payload: string | undefined): { inferenceId: string; seq: number } | null {
  const match = /^([0-9a-f-]{36}) (\d+)$/.exec(payload ?? '');
  return match ? { inferenceId: match[1], seq: Number(match[2]) } : null;
}
