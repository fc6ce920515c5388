import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ApiError } from '../http/api-error';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import { IS_PUBLIC_ROUTE } from './public.decorator';

export interface AuthenticatedRequest extends Request {
  user?: { email: string };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Every route needs `Authorization: Bearer <key>` unless its handler or controller is marked @Public(); keys
 * and their users come from API_KEYS. The decision comes from the matched route's metadata, never from the
 * request path, so no spelling of a path (case, encoding, slashes) can reach a handler without a key.
 * Keys are compared as SHA-256 digests in constant time so response timing does not leak them.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: Array<{ digest: Buffer; email: string }>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly reflector: Reflector,
  ) {
    this.keys = [...config.apiKeys.entries()].map(([key, email]) => ({ digest: digest(key), email }));
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (isPublicRoute(this.reflector, context)) return true;
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

export function isPublicRoute(reflector: Reflector, context: ExecutionContext): boolean {
  return (
    reflector.getAllAndOverride<string | undefined>(IS_PUBLIC_ROUTE, [context.getHandler(), context.getClass()]) !==
    undefined
  );
}
