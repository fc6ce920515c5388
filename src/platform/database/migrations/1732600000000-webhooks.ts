import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Webhook target of an inference, and one row per delivery attempt (visible through the API). */
export class Webhooks1732600000000 implements MigrationInterface {
  name = 'Webhooks1732600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE inferences ADD COLUMN webhook_url text`);
    await queryRunner.query(`ALTER TABLE inferences ADD COLUMN webhook_secret text`);
    await queryRunner.query(`
      CREATE TABLE webhook_deliveries (
        id bigserial PRIMARY KEY,
        inference_id uuid NOT NULL REFERENCES inferences (id) ON DELETE CASCADE,
        webhook_id varchar(120) NOT NULL,
        event_type varchar(64) NOT NULL,
        url text NOT NULL,
        attempt integer NOT NULL,
        attempted_at timestamptz NOT NULL,
        duration_ms integer NOT NULL,
        status_code integer,
        error text,
        delivered boolean NOT NULL
      )`);
    await queryRunner.query(
      `CREATE INDEX webhook_deliveries_inference_idx ON webhook_deliveries (inference_id, attempted_at)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE webhook_deliveries`);
    await queryRunner.query(`ALTER TABLE inferences DROP COLUMN webhook_secret`);
    await queryRunner.query(`ALTER TABLE inferences DROP COLUMN webhook_url`);
  }
}
