import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Response } from 'express';
import type { AppConfig } from '../../platform/config/config';
import { resolveUrlSigningSecret } from '../../platform/storage/filesystem-object-store';
import type { AuthenticatedRequest } from '../auth/api-key.guard';
import { ApiKeyAuthenticator } from '../auth/api-key-authenticator';
import { RateLimits } from '../auth/rate-limits';
import { TokenGenerations } from '../auth/token-generations';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import { EVENTS_TOKEN_PROBLEMS, verifyEventsToken } from './events-token';

/**
 * The events route takes the API key as every route does, or `?token=` from POST .../events/token when no
 * Authorization header is sent (EventSource in browsers cannot send one). Either way request.user is set,
 * so the route's ownership check is the same; the token must belong to the inference in the path and to its
 * current token generation (POST .../revoke-tokens revokes earlier ones).
 */
@Injectable()
export class EventsAccessGuard implements CanActivate {
  private readonly secret: string;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly rateLimits: RateLimits,
    private readonly generations: TokenGenerations,
  ) {
    this.secret = resolveUrlSigningSecret(config);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = request.query?.token;
    if (request.headers.authorization) {
      request.user = await this.authenticator.authenticate(request.headers.authorization);
      await this.rateLimits.consume(request.user, 'requests', context.switchToHttp().getResponse<Response>());
      return true;
    }
    if (token === undefined || token === '')
      throw new ApiError(
        401,
        'missing "Authorization: Bearer <api key>" header or token query parameter (POST /api/v2/inference/{id}/events/token)',
      );
    const inferenceId = String(request.params.id);
    const generation = await this.generations.ofInference(inferenceId);
    const check = verifyEventsToken(inferenceId, token, this.secret, undefined, generation);
    if (!check.valid) throw new ApiError(403, EVENTS_TOKEN_PROBLEMS[check.reason], 'token');
    request.user = { email: check.user, admin: false, keyId: `events-token:${inferenceId}` };
    return true;
  }
}
