import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Models, inferences and their tasks (the DB projection of workflow state). */
export class InitialSchema1732500000000 implements MigrationInterface {
  name = 'InitialSchema1732500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE models (
        id uuid PRIMARY KEY,
        display_name varchar(200) NOT NULL,
        description text,
        status varchar(16) NOT NULL,
        status_message text,
        model_input_data_spec jsonb NOT NULL,
        geoserver_push jsonb,
        file_key varchar(1024) NOT NULL,
        file_name varchar(255) NOT NULL,
        file_sha256 varchar(64) NOT NULL,
        file_size bigint NOT NULL,
        onnx_signature jsonb,
        created_by varchar(320) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX models_display_name_key ON models (display_name)`);
    await queryRunner.query(`
      CREATE TABLE inferences (
        id uuid PRIMARY KEY,
        model_id uuid NOT NULL REFERENCES models (id),
        model_display_name varchar(200) NOT NULL,
        description text,
        location text,
        spatial_domain jsonb NOT NULL,
        temporal_domain jsonb NOT NULL,
        maxcc integer,
        fine_tuning_id varchar(200),
        generic_processor_id uuid,
        post_processing jsonb,
        status varchar(16) NOT NULL,
        status_message text,
        workflow_id varchar(200) NOT NULL,
        created_by varchar(320) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz
      )`);
    await queryRunner.query(`CREATE INDEX inferences_model_id_idx ON inferences (model_id)`);
    await queryRunner.query(`CREATE INDEX inferences_status_idx ON inferences (status)`);
    await queryRunner.query(`CREATE INDEX inferences_created_by_idx ON inferences (created_by)`);
    await queryRunner.query(`CREATE INDEX inferences_created_at_idx ON inferences (created_at)`);
    await queryRunner.query(`
      CREATE TABLE inference_tasks (
        task_id varchar(120) PRIMARY KEY,
        inference_id uuid NOT NULL REFERENCES inferences (id) ON DELETE CASCADE,
        task_index integer NOT NULL,
        input jsonb NOT NULL,
        status varchar(16) NOT NULL,
        pipeline_steps jsonb NOT NULL,
        output_key varchar(1024),
        outputs jsonb,
        status_message text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX inference_tasks_inference_idx ON inference_tasks (inference_id, task_index)`,
    );
    await queryRunner.query(`CREATE INDEX inference_tasks_status_idx ON inference_tasks (status)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE inference_tasks`);
    await queryRunner.query(`DROP TABLE inferences`);
    await queryRunner.query(`DROP TABLE models`);
  }
}
