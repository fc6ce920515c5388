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
 * Routes behind the API key: the REST API and the operations views that reveal worker identities.
 * /api/health, /metrics, /docs and signed /files URLs stay open (probes, scrapers, browsers).
 */
export const API_KEY_PREFIXES = ['/api/v2', '/api/queues'];

export function requiresApiKey(path: string): boolean {
  return API_KEY_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/**
 * Every /api/v2 and /api/queues route needs `Authorization: Bearer <key>`; keys and their users come from API_KEYS.
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
    if (!requiresApiKey(request.path)) return true;
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
