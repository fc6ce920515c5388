import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { ApiError } from '../common/api-error';
import type { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';

export interface AuthenticatedRequest extends Request {
  user?: { email: string };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Every /api/v2 route needs `Authorization: Bearer <key>`; keys and their users come from API_KEYS.
 * Keys are compared as SHA-256 digests in constant time so response timing does not leak them.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: Array<{ digest: Buffer; email: string }>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.keys = [...config.apiKeys.entries()].map(([key, email]) => ({ digest: digest(key), email }));
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (!request.path.startsWith('/api/v2')) return true;
    const header = request.headers.authorization;
    if (!header) throw new ApiError(401, 'missing "Authorization: Bearer <api key>" header');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError(401, 'Authorization header must be "Bearer <api key>"');
    const presented = digest(match[1]);
    let email: string | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(presented, key.digest)) email = key.email;
    }
    if (!email) throw new ApiError(401, 'invalid API key');
    request.user = { email };
    return true;
  }
}
