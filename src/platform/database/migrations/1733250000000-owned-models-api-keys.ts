import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Security hardening (issue 12):
 * - models get an owner, a visibility and a soft delete; display names are unique per owner (and version, so
 *   "register the same name again = version n+1" can come without another change of keys). Models registered
 *   before this migration were visible to every user: they stay `public`, owned by the user who created them, so
 *   nobody loses access to a model their inferences or scripts name.
 * - API keys stored as SHA-256 digests (the key itself is never stored), several per user, revocable.
 * - inferences get a token generation: tile and events tokens are signed with it, so raising it revokes every
 *   token issued before; and a webhook revocation time (deliveries stop).
 */
export class OwnedModelsApiKeys1733250000000 implements MigrationInterface {
  name = 'OwnedModelsApiKeys1733250000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE models ADD COLUMN owner varchar(320)`);
    await queryRunner.query(`UPDATE models SET owner = created_by`);
    await queryRunner.query(`ALTER TABLE models ALTER COLUMN owner SET NOT NULL`);
    await queryRunner.query(`ALTER TABLE models ADD COLUMN visibility varchar(16) NOT NULL DEFAULT 'private'`);
    await queryRunner.query(`UPDATE models SET visibility = 'public'`);
    await queryRunner.query(`ALTER TABLE models ADD COLUMN version integer NOT NULL DEFAULT 1`);
    await queryRunner.query(`ALTER TABLE models ADD COLUMN deleted_at timestamptz`);
    await queryRunner.query(`ALTER TABLE models ADD COLUMN deleted_by varchar(320)`);
    await queryRunner.query(`DROP INDEX models_display_name_key`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX models_owner_display_name_version_key ON models (owner, display_name, version) WHERE deleted_at IS NULL`,
    );
    await queryRunner.query(`CREATE INDEX models_display_name_idx ON models (display_name) WHERE deleted_at IS NULL`);
    await queryRunner.query(
      `CREATE INDEX models_visibility_idx ON models (visibility, created_at) WHERE deleted_at IS NULL`,
    );

    await queryRunner.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        key_sha256 char(64) NOT NULL,
        key_prefix varchar(16) NOT NULL,
        user_email varchar(320) NOT NULL,
        name varchar(200),
        admin boolean NOT NULL DEFAULT false,
        rate_limit_per_minute integer,
        created_by varchar(320) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        revoked_by varchar(320)
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX api_keys_key_sha256_key ON api_keys (key_sha256)`);
    await queryRunner.query(`CREATE INDEX api_keys_user_email_idx ON api_keys (user_email)`);

    await queryRunner.query(`ALTER TABLE inferences ADD COLUMN token_generation integer NOT NULL DEFAULT 0`);
    await queryRunner.query(`ALTER TABLE inferences ADD COLUMN webhook_revoked_at timestamptz`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE inferences DROP COLUMN webhook_revoked_at`);
    await queryRunner.query(`ALTER TABLE inferences DROP COLUMN token_generation`);
    await queryRunner.query(`DROP TABLE api_keys`);
    await queryRunner.query(`DROP INDEX models_visibility_idx`);
    await queryRunner.query(`DROP INDEX models_display_name_idx`);
    await queryRunner.query(`DROP INDEX models_owner_display_name_version_key`);
    await queryRunner.query(`DELETE FROM models WHERE deleted_at IS NOT NULL`);
    await queryRunner.query(`CREATE UNIQUE INDEX models_display_name_key ON models (display_name)`);
    for (const column of ['deleted_by', 'deleted_at', 'version', 'visibility', 'owner'])
      await queryRunner.query(`ALTER TABLE models DROP COLUMN ${column}`);
  }
}
