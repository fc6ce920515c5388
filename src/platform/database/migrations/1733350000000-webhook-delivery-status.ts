import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhook attempts are recorded before the request is sent (status PENDING) and completed after, so the
 * history lists an attempt whose worker was lost before the answer came (then UNKNOWN): an audit of
 * everything sent. Existing rows were written after their answer: DELIVERED or FAILED.
 */
export class WebhookDeliveryStatus1733350000000 implements MigrationInterface {
  name = 'WebhookDeliveryStatus1733350000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_deliveries ADD COLUMN status varchar(16)`);
    await queryRunner.query(
      `UPDATE webhook_deliveries SET status = CASE WHEN delivered THEN 'DELIVERED' ELSE 'FAILED' END`,
    );
    await queryRunner.query(`ALTER TABLE webhook_deliveries ALTER COLUMN status SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE webhook_deliveries ALTER COLUMN duration_ms DROP NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`UPDATE webhook_deliveries SET duration_ms = 0 WHERE duration_ms IS NULL`);
    await queryRunner.query(`ALTER TABLE webhook_deliveries ALTER COLUMN duration_ms SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE webhook_deliveries DROP COLUMN status`);
  }
}
