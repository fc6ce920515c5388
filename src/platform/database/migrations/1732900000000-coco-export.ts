import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Storage key of the inference's COCO export (written after its tasks finish). */
export class CocoExport1732900000000 implements MigrationInterface {
  name = 'CocoExport1732900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE inferences ADD COLUMN coco_key varchar(1024)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE inferences DROP COLUMN coco_key`);
  }
}
