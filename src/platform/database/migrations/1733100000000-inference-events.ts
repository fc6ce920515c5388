import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Live events of inferences (docs/events.md): triggers on the projection tables append a row to
 * `inference_events` for every status change, step progress and new output, and NOTIFY `inference_events`, so
 * every API process serves them from the database and no activity writes events itself.
 *
 * `seq` counts per inference in `inference_event_seqs`. Its row stays locked until the writing transaction
 * commits, so events of one inference commit in seq order: a reader that has seen seq n never misses a smaller
 * one committed later. Events of a task change are ordered: task RUNNING, then per step its status (progress
 * before a final status), then the output, then the task's other statuses.
 */
export class InferenceEvents1733100000000 implements MigrationInterface {
  name = 'InferenceEvents1733100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE inference_events (
        inference_id uuid NOT NULL REFERENCES inferences (id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        type varchar(32) NOT NULL,
        data jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (inference_id, seq)
      )`);
    await queryRunner.query(`
      CREATE TABLE inference_event_seqs (
        inference_id uuid PRIMARY KEY REFERENCES inferences (id) ON DELETE CASCADE,
        last_seq bigint NOT NULL
      )`);

    // events: a JSON array of {inference_id, type, data}, appended in array order.
    await queryRunner.query(`
      CREATE FUNCTION append_inference_events(events jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
      DECLARE
        notified bigint;
      BEGIN
        IF events IS NULL OR jsonb_array_length(events) = 0 THEN
          RETURN;
        END IF;
        WITH incoming AS (
          SELECT (e->>'inference_id')::uuid AS inference_id, e->>'type' AS type, e->'data' AS data, ord
            FROM jsonb_array_elements(events) WITH ORDINALITY AS x(e, ord)
        ),
        counts AS (
          SELECT inference_id, count(*) AS total FROM incoming GROUP BY inference_id
        ),
        bumped AS (
          INSERT INTO inference_event_seqs AS s (inference_id, last_seq)
          SELECT inference_id, total FROM counts
          ON CONFLICT (inference_id) DO UPDATE SET last_seq = s.last_seq + EXCLUDED.last_seq
          RETURNING s.inference_id, s.last_seq
        ),
        inserted AS (
          INSERT INTO inference_events (inference_id, seq, type, data)
          SELECT i.inference_id,
                 b.last_seq - c.total + row_number() OVER (PARTITION BY i.inference_id ORDER BY i.ord),
                 i.type, i.data
            FROM incoming i JOIN counts c USING (inference_id) JOIN bumped b USING (inference_id)
          RETURNING inference_id, seq
        )
        SELECT count(pg_notify('inference_events', inference_id::text || ' ' || last_seq::text)) INTO notified
          FROM (SELECT inference_id, max(seq) AS last_seq FROM inserted GROUP BY inference_id) AS latest;
      END
      $fn$`);

    await queryRunner.query(`
      CREATE FUNCTION inferences_events() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status
           AND NEW.status_message IS NOT DISTINCT FROM OLD.status_message THEN
          RETURN NULL;
        END IF;
        PERFORM append_inference_events(
          jsonb_build_array(jsonb_build_object(
            'inference_id', NEW.id, 'type', 'inference.status',
            'data', jsonb_build_object('status', NEW.status, 'message', NEW.status_message)))
          || CASE
               WHEN NEW.status IN ('COMPLETED', 'FAILED', 'STOPPED')
                    AND (TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status)
               THEN jsonb_build_array(jsonb_build_object(
                      'inference_id', NEW.id, 'type', 'inference.end',
                      'data', jsonb_build_object('status', NEW.status)))
               ELSE '[]'::jsonb
             END);
        RETURN NULL;
      END
      $fn$`);
    await queryRunner.query(`
      CREATE TRIGGER inferences_events AFTER INSERT OR UPDATE OF status, status_message ON inferences
        FOR EACH ROW EXECUTE FUNCTION inferences_events()`);

    // One statement-level trigger per projection write: grouped steps update many tasks in one statement.
    await queryRunner.query(`
      CREATE FUNCTION inference_tasks_events() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE
        events jsonb;
      BEGIN
        WITH changed AS (
          SELECT n.inference_id, n.task_id, n.task_index,
                 o.status AS old_status, n.status, o.status_message AS old_message, n.status_message,
                 COALESCE(o.pipeline_steps, '[]'::jsonb) AS old_steps, COALESCE(n.pipeline_steps, '[]'::jsonb) AS steps,
                 o.output_key AS old_output, n.output_key
            FROM new_rows n JOIN old_rows o ON o.task_id = n.task_id
        ),
        old_steps AS (
          SELECT c.task_id, x.step->'step_number' AS step_number, x.step
            FROM changed c CROSS JOIN LATERAL jsonb_array_elements(c.old_steps) AS x(step)
        ),
        steps AS (
          SELECT c.inference_id, c.task_id, c.task_index, s.step, p.step AS old_step,
                 (s.step->>'step_number')::int AS step_number
            FROM changed c
            CROSS JOIN LATERAL jsonb_array_elements(c.steps) AS s(step)
            LEFT JOIN old_steps p ON p.task_id = c.task_id AND p.step_number = s.step->'step_number'
        ),
        events AS (
          SELECT inference_id, task_index, CASE WHEN status = 'RUNNING' THEN 0 ELSE 3 END AS phase,
                 0 AS step_number, 0 AS sub, 'task.status' AS type,
                 jsonb_build_object('task_id', task_id, 'status', status, 'message', status_message) AS data
            FROM changed
           WHERE status IS DISTINCT FROM old_status OR status_message IS DISTINCT FROM old_message
          UNION ALL
          SELECT inference_id, task_index, 1, step_number,
                 CASE WHEN step->>'status' IN ('FINISHED', 'FAILED', 'STOPPED') THEN 2 ELSE 0 END, 'step.status',
                 jsonb_build_object('task_id', task_id, 'step_id', step->>'process_id', 'step_number', step_number,
                                    'status', step->>'status', 'message', step->>'message')
            FROM steps
           WHERE step->'status' IS DISTINCT FROM old_step->'status'
              OR step->'message' IS DISTINCT FROM old_step->'message'
          UNION ALL
          SELECT inference_id, task_index, 1, step_number, 1, 'step.progress',
                 jsonb_build_object('task_id', task_id, 'step_id', step->>'process_id', 'step_number', step_number,
                                    'done', step->'progress'->'done', 'total', step->'progress'->'total',
                                    'unit', step->'progress'->'unit', 'eta_seconds', step->'progress'->'eta_seconds')
            FROM steps
           WHERE jsonb_typeof(step->'progress') = 'object' AND step->'progress' IS DISTINCT FROM old_step->'progress'
          UNION ALL
          SELECT inference_id, task_index, 2, 0, 0, 'task.output', jsonb_build_object('task_id', task_id)
            FROM changed
           WHERE output_key IS NOT NULL AND output_key IS DISTINCT FROM old_output
        )
        SELECT jsonb_agg(jsonb_build_object('inference_id', inference_id, 'type', type, 'data', data)
                         ORDER BY inference_id, task_index, phase, step_number, sub)
          INTO events FROM events;
        PERFORM append_inference_events(events);
        RETURN NULL;
      END
      $fn$`);
    await queryRunner.query(`
      CREATE TRIGGER inference_tasks_events AFTER UPDATE ON inference_tasks
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION inference_tasks_events()`);

    // Inferences from before this migration: their status, outputs and end, so their stream replays and closes.
    await queryRunner.query(`
      WITH backfill AS (
        SELECT id AS inference_id, 0 AS part, 0 AS task_index, 'inference.status' AS type,
               jsonb_build_object('status', status, 'message', status_message) AS data, updated_at AS created_at
          FROM inferences
        UNION ALL
        SELECT t.inference_id, 1, t.task_index, 'task.output', jsonb_build_object('task_id', t.task_id), t.updated_at
          FROM inference_tasks t WHERE t.output_key IS NOT NULL
        UNION ALL
        SELECT id, 2, 0, 'inference.end', jsonb_build_object('status', status), COALESCE(finished_at, updated_at)
          FROM inferences WHERE status IN ('COMPLETED', 'FAILED', 'STOPPED')
      )
      INSERT INTO inference_events (inference_id, seq, type, data, created_at)
      SELECT inference_id, row_number() OVER (PARTITION BY inference_id ORDER BY part, task_index), type, data, created_at
        FROM backfill`);
    await queryRunner.query(`
      INSERT INTO inference_event_seqs (inference_id, last_seq)
      SELECT inference_id, max(seq) FROM inference_events GROUP BY inference_id`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER inference_tasks_events ON inference_tasks`);
    await queryRunner.query(`DROP TRIGGER inferences_events ON inferences`);
    await queryRunner.query(`DROP FUNCTION inference_tasks_events()`);
    await queryRunner.query(`DROP FUNCTION inferences_events()`);
    await queryRunner.query(`DROP FUNCTION append_inference_events(jsonb)`);
    await queryRunner.query(`DROP TABLE inference_event_seqs`);
    await queryRunner.query(`DROP TABLE inference_events`);
  }
}
