import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How a generic processor runs, detected at upload: `script` (seed 000's one-shot script, every processor
 * uploaded before lifecycles existed) or `lifecycle` (setup once, process many, cleanup: docs/processors.md).
 */
export class ProcessorStyle1733200000000 implements MigrationInterface {
  name = 'ProcessorStyle1733200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE generic_processors ADD COLUMN style varchar(16) NOT NULL DEFAULT 'script'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE generic_processors DROP COLUMN style`);
  }
}
