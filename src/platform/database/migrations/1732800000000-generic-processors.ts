import type { MigrationInterface, QueryRunner } from 'typeorm';

/** User-uploaded Python post-processors (soft-deleted, so inferences that used one keep their reference). */
export class GenericProcessors1732800000000 implements MigrationInterface {
  name = 'GenericProcessors1732800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE generic_processors (
        id uuid PRIMARY KEY,
        name varchar(200) NOT NULL,
        description text,
        processor_parameters jsonb NOT NULL DEFAULT '{}'::jsonb,
        status varchar(16) NOT NULL,
        file_name varchar(255) NOT NULL,
        file_key varchar(1024) NOT NULL,
        file_sha256 varchar(64) NOT NULL,
        file_size integer NOT NULL,
        created_by varchar(320) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      )`);
    await queryRunner.query(
      `CREATE INDEX generic_processors_created_by_idx ON generic_processors (created_by, created_at DESC)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE generic_processors`);
  }
}
