import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC_ROUTE = 'geo-inference:public-route';

/**
 * Opts a controller or handler out of the API key. Every other route needs one: authentication is the
 * default, so a new controller cannot be left open by forgetting a path prefix.
 * `credential` says what protects the route instead (documented in the OpenAPI description).
 */
export const Public = (credential: 'none' | 'signed-url' | 'tile-token' | 'api-key-or-events-token' = 'none') =>
  SetMetadata(IS_PUBLIC_ROUTE, credential);
