import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import type { AppConfig } from '../../platform/config/config';
import { resolveUrlSigningSecret } from '../../platform/storage/filesystem-object-store';
import { ApiKeyGuard, type AuthenticatedRequest } from '../auth/api-key.guard';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import { EVENTS_TOKEN_PROBLEMS, verifyEventsToken } from './events-token';

/** ApiKeyGuard's own check, asked as for a keyed route (the events route itself is @Public for the guard). */
const KEYED_ROUTE = { getAllAndOverride: () => undefined } as unknown as Reflector;

/**
 * The events route takes the API key as every route does, or `?token=` from POST .../events/token when no
 * Authorization header is sent (EventSource in browsers cannot send one). Either way request.user is set,
 * so the route's ownership check is the same; the token must belong to the inference in the path.
 */
@Injectable()
export class EventsAccessGuard implements CanActivate {
  private readonly keys: ApiKeyGuard;
  private readonly secret: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.keys = new ApiKeyGuard(config, KEYED_ROUTE);
    this.secret = resolveUrlSigningSecret(config);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = request.query?.token;
    if (request.headers.authorization) return this.keys.canActivate(context);
    if (token === undefined || token === '')
      throw new ApiError(
        401,
        'missing "Authorization: Bearer <api key>" header or token query parameter (POST /api/v2/inference/{id}/events/token)',
      );
    const check = verifyEventsToken(String(request.params.id), token, this.secret);
    if (!check.valid) throw new ApiError(403, EVENTS_TOKEN_PROBLEMS[check.reason], 'token');
    request.user = { email: check.user };
    return true;
  }
}
