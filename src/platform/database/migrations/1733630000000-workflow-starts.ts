import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The workflow-start outbox (issue 15 item 9): a row is inserted in the transaction that creates an inference and
 * holds the workflow input; a background starter in the API process starts the workflow and deletes the row. So
 * no inference is created without its workflow, and POST does not wait for Temporal. `next_attempt_at` is both the
 * retry backoff and a lease: a starter that claims a row moves it into the future, so other API processes skip it.
 */
export class WorkflowStarts1733630000000 implements MigrationInterface {
  name = 'WorkflowStarts1733630000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE workflow_starts (
        inference_id uuid PRIMARY KEY REFERENCES inferences (id) ON DELETE CASCADE,
        input jsonb NOT NULL,
        created_by text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX workflow_starts_due_idx ON workflow_starts (next_attempt_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE workflow_starts`);
  }
}
