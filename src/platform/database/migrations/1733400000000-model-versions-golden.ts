import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Model registry (issue 14 item 5): a model may carry a golden pair (input GeoTIFF and its expected output) that
 * was checked at registration; `golden` records where both are stored and how the check came out. Versions need
 * no new column: registering a name again adds a row with version n+1 under the existing unique key
 * (owner, display_name, version); the index below finds an owner's versions of a name quickly.
 */
export class ModelVersionsGolden1733400000000 implements MigrationInterface {
  name = 'ModelVersionsGolden1733400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE models ADD COLUMN golden jsonb`);
    await queryRunner.query(`CREATE INDEX models_owner_display_name_idx ON models (owner, display_name, version)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX models_owner_display_name_idx`);
    await queryRunner.query(`ALTER TABLE models DROP COLUMN golden`);
  }
}
