import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The InstaGeo task API (issue 14 item 4): `models.model_type` is the key `POST /api/run-model` selects a model
 * by; `instageo_tasks` records which inferences were created through that API, with the request as sent, so
 * `GET /api/tasks` lists them (one InstaGeo task = one inference; deleting the inference removes its row).
 */
export class InstageoTasks1733620000000 implements MigrationInterface {
  name = 'InstageoTasks1733620000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE models ADD COLUMN model_type varchar(100)`);
    await queryRunner.query(
      `CREATE INDEX models_model_type_idx ON models (model_type, version) WHERE model_type IS NOT NULL`,
    );
    await queryRunner.query(`
      CREATE TABLE instageo_tasks (
        inference_id uuid PRIMARY KEY REFERENCES inferences (id) ON DELETE CASCADE,
        created_by varchar(320) NOT NULL,
        model_type varchar(100) NOT NULL,
        request jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX instageo_tasks_created_by_idx ON instageo_tasks (created_by, created_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE instageo_tasks`);
    await queryRunner.query(`DROP INDEX models_model_type_idx`);
    await queryRunner.query(`ALTER TABLE models DROP COLUMN model_type`);
  }
}
