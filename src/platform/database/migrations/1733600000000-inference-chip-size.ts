import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A request's chip_size (issue 14 item 3): the tile size a dynamic-input model runs on for that inference. */
export class InferenceChipSize1733600000000 implements MigrationInterface {
  name = 'InferenceChipSize1733600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE inferences ADD COLUMN chip_size int`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE inferences DROP COLUMN chip_size`);
  }
}
