import type { DataSource } from 'typeorm';
import { ApiKeyEntity } from '../entities';

export type NewApiKey = Omit<ApiKeyEntity, 'createdAt' | 'revokedAt' | 'revokedBy'>;

/** The `api_keys` table: keys added at run time, found by the SHA-256 of the presented key. */
export class ApiKeysRepository {
  constructor(private readonly dataSource: DataSource) {}

  private get rows() {
    return this.dataSource.getRepository(ApiKeyEntity);
  }

  async create(key: NewApiKey): Promise<ApiKeyEntity> {
    await this.rows.insert(this.rows.create(key));
    return (await this.findById(key.id))!;
  }

  findById(id: string): Promise<ApiKeyEntity | null> {
    return this.rows.findOneBy({ id });
  }

  /** The key whose digest this is, unless revoked (an index lookup of a digest: timing says nothing about keys). */
  findActiveBySha256(keySha256: string): Promise<ApiKeyEntity | null> {
    return this.rows
      .createQueryBuilder('key')
      .where('key.key_sha256 = :keySha256 AND key.revoked_at IS NULL', { keySha256 })
      .getOne();
  }

  /** Keys newest first: one user's, or everyone's (`user` undefined). */
  list(
    filter: { user?: string; includeRevoked: boolean },
    limit: number,
    offset: number,
  ): Promise<[ApiKeyEntity[], number]> {
    const query = this.rows.createQueryBuilder('key').orderBy('key.created_at', 'DESC').take(limit).skip(offset);
    if (filter.user !== undefined) query.andWhere('key.user_email = :user', { user: filter.user });
    if (!filter.includeRevoked) query.andWhere('key.revoked_at IS NULL');
    return query.getManyAndCount();
  }

  /** Marks the key revoked; false when it was already revoked. */
  async revoke(id: string, revokedBy: string): Promise<boolean> {
    const result = await this.rows
      .createQueryBuilder()
      .update()
      .set({ revokedAt: () => 'now()', revokedBy })
      .where('id = :id AND revoked_at IS NULL', { id })
      .execute();
    return (result.affected ?? 0) > 0;
  }
}
