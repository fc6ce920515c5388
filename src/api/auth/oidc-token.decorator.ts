import { SetMetadata } from '@nestjs/common';

export const ACCEPTS_OIDC_ACCESS_TOKEN = 'geo-inference:accepts-oidc-access-token';

/**
 * The route also takes the Temporal Web UI sign-in's OpenID Connect access token (a JWT of
 * TEMPORAL_UI_OIDC_ISSUER_URL) in place of an API key; the handler still decides what the caller may do.
 */
export const AcceptsOidcAccessToken = () => SetMetadata(ACCEPTS_OIDC_ACCESS_TOKEN, true);
