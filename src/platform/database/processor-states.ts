import type { DataSource } from 'typeorm';

/** A lifecycle processor's state on one worker (table processor_worker_states, written by the worker). */
export interface ProcessorWorkerState {
  worker: string;
  /** Warm processes of the processor on that worker now (one per user). */
  warm_processes: number;
  warm_since: string | null;
  setup_ms: number | null;
  runs: number;
  failures: number;
  last_error: string | null;
  last_error_at: string | null;
  updated_at: string;
}

/** What a worker reports about a processor; each write is one upsert (fire and forget for the caller). */
export type ProcessorStateChange =
  | { kind: 'warm'; setupMs: number }
  | { kind: 'calls'; runs: number; failures: number; lastError?: string }
  | { kind: 'ended'; lastError?: string }
  | { kind: 'setup-failed'; error: string };

export async function recordProcessorState(
  dataSource: DataSource,
  processorId: string,
  worker: string,
  change: ProcessorStateChange,
): Promise<void> {
  const error = change.kind === 'setup-failed' ? change.error : 'lastError' in change ? change.lastError : undefined;
  const warmDelta = change.kind === 'warm' ? 1 : change.kind === 'ended' ? -1 : 0;
  const runs = change.kind === 'calls' ? change.runs : 0;
  const failures = change.kind === 'calls' ? change.failures : change.kind === 'setup-failed' ? 1 : 0;
  const setupMs = change.kind === 'warm' ? change.setupMs : null;
  await dataSource.query(
    `INSERT INTO processor_worker_states AS s
       (processor_id, worker, warm_processes, warm_since, setup_ms, runs, failures, last_error, last_error_at, updated_at)
     SELECT $1, $2, GREATEST($3::int, 0), CASE WHEN $3::int > 0 THEN now() END, $4::double precision, $5::bigint,
            $6::bigint, $7::text, CASE WHEN $7::text IS NOT NULL THEN now() END, now()
     WHERE EXISTS (SELECT 1 FROM generic_processors WHERE id = $1)
     ON CONFLICT (processor_id, worker) DO UPDATE SET
       warm_processes = GREATEST(s.warm_processes + $3::int, 0),
       warm_since = CASE WHEN s.warm_processes + $3::int <= 0 THEN NULL ELSE COALESCE(s.warm_since, now()) END,
       setup_ms = COALESCE($4::double precision, s.setup_ms),
       runs = s.runs + $5::bigint,
       failures = s.failures + $6::bigint,
       last_error = COALESCE($7::text, s.last_error),
       last_error_at = CASE WHEN $7::text IS NOT NULL THEN now() ELSE s.last_error_at END,
       updated_at = now()`,
    [processorId, worker, warmDelta, setupMs, runs, failures, error ?? null],
  );
}

export async function processorWorkerStates(
  dataSource: DataSource,
  processorId: string,
): Promise<ProcessorWorkerState[]> {
  const rows = (await dataSource.query(
    `SELECT worker, warm_processes, warm_since, setup_ms, runs, failures, last_error, last_error_at, updated_at
       FROM processor_worker_states WHERE processor_id = $1 ORDER BY worker`,
    [processorId],
  )) as Array<Record<string, unknown>>;
  const iso = (value: unknown) => (value ? new Date(value as string).toISOString() : null);
  return rows.map((row) => ({
    worker: String(row.worker),
    warm_processes: Number(row.warm_processes),
    warm_since: iso(row.warm_since),
    setup_ms: row.setup_ms === null ? null : Number(row.setup_ms),
    runs: Number(row.runs),
    failures: Number(row.failures),
    last_error: (row.last_error as string | null) ?? null,
    last_error_at: iso(row.last_error_at),
    updated_at: iso(row.updated_at)!,
  }));
}
