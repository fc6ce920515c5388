import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../platform/config/config';
import type { ApiKeyEntity } from '../../platform/database/entities';
import { ApiKeysRepository } from '../../platform/database/repositories';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import { apiKeyPrefix, apiKeySha256, generateApiKey } from './api-key-hash';
import type { ApiKeyView, CreateApiKeyRequest, ListApiKeysQuery } from './api-keys.dto';
import type { Principal } from './principal';

function toView(key: ApiKeyEntity): ApiKeyView {
  return {
    id: key.id,
    user: key.userEmail,
    name: key.name,
    key_prefix: key.keyPrefix,
    admin: key.admin,
    rate_limit_per_minute: key.rateLimitPerMinute,
    created_by: key.createdBy,
    created_at: key.createdAt.toISOString(),
    revoked_at: key.revokedAt?.toISOString() ?? null,
    revoked_by: key.revokedBy,
  };
}

/** API keys added at run time: admins add them for any user; users list and revoke their own. */
@Injectable()
export class ApiKeysService {
  constructor(
    private readonly keys: ApiKeysRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(request: CreateApiKeyRequest, caller: Principal): Promise<ApiKeyView & { key: string }> {
    if (!caller.admin) throw new ApiError(403, 'only admin keys may add API keys');
    const key = generateApiKey();
    const row = await this.keys.create({
      id: randomUUID(),
      keySha256: apiKeySha256(key),
      keyPrefix: apiKeyPrefix(key),
      userEmail: request.user,
      name: request.name ?? null,
      admin: request.admin,
      rateLimitPerMinute: request.rate_limit_per_minute ?? null,
      createdBy: caller.email,
    });
    return { ...toView(row), key };
  }

  async list(query: ListApiKeysQuery, caller: Principal): Promise<{ results: ApiKeyView[]; total_records: number }> {
    if (query.user !== undefined && !caller.admin && query.user !== caller.email)
      throw new ApiError(403, "user: only admin keys may list another user's keys", 'user');
    const user = caller.admin ? query.user : caller.email;
    const [rows, total] = await this.keys.list(
      { user, includeRevoked: query.include_revoked },
      query.limit,
      query.offset,
    );
    return { results: rows.map(toView), total_records: total };
  }

  /** Revokes a key: refused from the next request on. Users may revoke their own keys, admins any. */
  async revoke(id: string, caller: Principal): Promise<void> {
    const key = await this.keys.findById(id);
    if (!key || (!caller.admin && key.userEmail !== caller.email)) throw ApiError.notFound(`API key ${id} not found`);
    if (key.revokedAt) return;
    await this.keys.revoke(id, caller.email);
  }

  whoAmI(caller: Principal) {
    return {
      user: caller.email,
      admin: caller.admin,
      key_id: caller.keyId,
      rate_limit_per_minute: caller.rateLimitPerMinute ?? this.config.RATE_LIMIT_PER_MINUTE,
    };
  }
}
