import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../platform/config/config';
import { ApiKeysRepository } from '../../platform/database/repositories';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import { apiKeySha256 } from './api-key-hash';
import type { Principal } from './principal';

interface ConfiguredKey {
  digest: Buffer;
  principal: Principal;
}

/**
 * Turns an `Authorization: Bearer <key>` header into the caller. Keys from API_KEYS / ADMIN_API_KEYS are held as
 * SHA-256 digests and compared in constant time; keys added at run time are found in `api_keys` by the digest of
 * the presented key (so the database never holds a usable key, and a revoked key is refused from the next request
 * on, in every API process).
 */
@Injectable()
export class ApiKeyAuthenticator {
  private readonly configured: ConfiguredKey[];

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly keys: ApiKeysRepository,
  ) {
    const fromConfig = (entries: Map<string, string>, admin: boolean) =>
      [...entries].map(([key, email]) => {
        const digest = createHash('sha256').update(key, 'utf8').digest();
        return { digest, principal: { email, admin, keyId: `config:${digest.toString('hex').slice(0, 16)}` } };
      });
    this.configured = [...fromConfig(config.apiKeys, false), ...fromConfig(config.adminApiKeys, true)];
  }

  async authenticate(header: string | undefined): Promise<Principal> {
    if (!header) throw new ApiError(401, 'missing "Authorization: Bearer <api key>" header');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError(401, 'Authorization header must be "Bearer <api key>"');
    const hex = apiKeySha256(match[1]);
    const presented = Buffer.from(hex, 'hex');
    let principal: Principal | undefined;
    // Every configured digest is compared, so the time taken does not say which one matched.
    for (const key of this.configured) {
      if (timingSafeEqual(presented, key.digest)) principal = key.principal;
    }
    if (principal) return principal;
    const stored = await this.keys.findActiveBySha256(hex);
    if (!stored) throw new ApiError(401, 'invalid API key (unknown or revoked)');
    return {
      email: stored.userEmail,
      admin: stored.admin,
      keyId: stored.id,
      rateLimitPerMinute: stored.rateLimitPerMinute ?? undefined,
    };
  }
}
