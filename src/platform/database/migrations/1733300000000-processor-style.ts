import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How a generic processor runs, detected at upload: `script` (seed 000's one-shot script, every processor
 * uploaded before lifecycles existed) or `lifecycle` (setup once, process many, cleanup: docs/processors.md).
 * And the state of lifecycle processors on each worker (warm processes, runs, last error), which workers
 * write and GET /api/v2/generic-processor/{id} shows.
 */
export class ProcessorStyle1733300000000 implements MigrationInterface {
  name = 'ProcessorStyle1733300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE generic_processors ADD COLUMN style varchar(16) NOT NULL DEFAULT 'script'`);
    await queryRunner.query(`
      CREATE TABLE processor_worker_states (
        processor_id uuid NOT NULL REFERENCES generic_processors (id) ON DELETE CASCADE,
        worker varchar(255) NOT NULL,
        warm_processes integer NOT NULL DEFAULT 0,
        warm_since timestamptz,
        setup_ms double precision,
        runs bigint NOT NULL DEFAULT 0,
        failures bigint NOT NULL DEFAULT 0,
        last_error text,
        last_error_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (processor_id, worker)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE processor_worker_states`);
    await queryRunner.query(`ALTER TABLE generic_processors DROP COLUMN style`);
  }
}
