import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The storage key of the latest raster a task produced, so a retry resumes from the step that failed. */
export class TaskCurrentKey1732700000000 implements MigrationInterface {
  name = 'TaskCurrentKey1732700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE inference_tasks ADD COLUMN current_key varchar(1024)`);
    await queryRunner.query(`ALTER TABLE inferences ADD COLUMN retries integer NOT NULL DEFAULT 0`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE inferences DROP COLUMN retries`);
    await queryRunner.query(`ALTER TABLE inference_tasks DROP COLUMN current_key`);
  }
}
