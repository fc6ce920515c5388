import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { ApiKeyAuthenticator } from './api-key-authenticator';
import { looksLikeJwt, OidcAccessTokens } from './oidc-access-tokens';
import { ACCEPTS_OIDC_ACCESS_TOKEN } from './oidc-token.decorator';
import type { Principal } from './principal';
import { IS_PUBLIC_ROUTE } from './public.decorator';
import { RATE_LIMIT_BUCKET } from './rate-limit.decorator';
import { type RateLimitBucket, RateLimits } from './rate-limits';

export interface AuthenticatedRequest extends Request {
  user?: Principal;
}

/**
 * Every route needs `Authorization: Bearer <key>` unless its handler or controller is marked @Public() (see
 * ApiKeyAuthenticator for where keys come from). The decision comes from the matched route's metadata, never from
 * the request path, so no spelling of a path (case, encoding, slashes) can reach a handler without a key. Each
 * keyed request counts against its key's rate limits.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly rateLimits: RateLimits,
    private readonly oidcTokens: OidcAccessTokens,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (isPublicRoute(this.reflector, context)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const response = context.switchToHttp().getResponse<Response>();
    request.user = await this.authenticate(context, request.headers.authorization);
    await this.rateLimits.consume(request.user, 'requests', response);
    const bucket = this.reflector.getAllAndOverride<RateLimitBucket | undefined>(RATE_LIMIT_BUCKET, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (bucket) await this.rateLimits.consume(request.user, bucket, response);
    return true;
  }

  /** An API key, or on @AcceptsOidcAccessToken() routes (with an issuer configured) a sign-in's JWT. */
  private authenticate(context: ExecutionContext, header: string | undefined): Promise<Principal> {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
    if (
      bearer &&
      this.oidcTokens.enabled &&
      looksLikeJwt(bearer) &&
      this.reflector.getAllAndOverride<boolean | undefined>(ACCEPTS_OIDC_ACCESS_TOKEN, [
        context.getHandler(),
        context.getClass(),
      ])
    )
      return this.oidcTokens.authenticate(bearer);
    return this.authenticator.authenticate(header);
  }
}

export function isPublicRoute(reflector: Reflector, context: ExecutionContext): boolean {
  return (
    reflector.getAllAndOverride<string | undefined>(IS_PUBLIC_ROUTE, [context.getHandler(), context.getClass()]) !==
    undefined
  );
}
