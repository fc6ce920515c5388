import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Step logs in PostgreSQL, one row per attempt of a step (earlier versions kept one object per step in
 * object storage; those are still read). A row costs an INSERT where an object cost a PUT and files on the
 * storage server's disk, three times per task.
 */
export class StepLogs1733000000000 implements MigrationInterface {
  name = 'StepLogs1733000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE step_logs (
        id bigserial PRIMARY KEY,
        task_id varchar(120) NOT NULL REFERENCES inference_tasks (task_id) ON DELETE CASCADE,
        step_id varchar(64) NOT NULL,
        attempt integer NOT NULL,
        started_at timestamptz NOT NULL,
        text text NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX step_logs_task_step_idx ON step_logs (task_id, step_id, id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE step_logs`);
  }
}
