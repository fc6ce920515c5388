import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { AppConfig, TemporalUiOidcConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import type { Principal } from './principal';

/** How long the provider's discovery document is kept before it is fetched again. */
const DISCOVERY_MAX_AGE_MS = 60 * 60 * 1000;
const PROVIDER_TIMEOUT_MS = 5000;
/** Userinfo answers are kept per token for at most this long (and never past the token's expiry). */
const USERINFO_MAX_AGE_MS = 5 * 60 * 1000;
const USERINFO_CACHE_ENTRIES = 1000;
/** Clock skew tolerated between this host and the identity provider. */
const CLOCK_TOLERANCE_S = 30;
/** Asymmetric signatures only: a symmetric (HS*) token could be minted by anyone holding the client secret. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** jose's codes for a token that is not acceptable (as opposed to a provider that cannot be reached). */
const TOKEN_PROBLEMS = new Set([
  errors.JWTExpired.code,
  errors.JWTClaimValidationFailed.code,
  errors.JWTInvalid.code,
  errors.JWSInvalid.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
  errors.JWKInvalid.code,
]);

interface Discovery {
  issuer: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
}

interface Provider {
  discovery: Discovery;
  keys: ReturnType<typeof createRemoteJWKSet>;
  fetchedAt: number;
}

interface Identity {
  email?: string;
  emailVerified?: boolean;
  groups: string[];
}

/** A bearer credential shaped like a JWT (three base64url parts whose first is a JOSE header), not an API key. */
export function looksLikeJwt(token: string): boolean {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) return false;
  try {
    return typeof decodeProtectedHeader(token).alg === 'string';
  } catch {
    return false;
  }
}

function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  return path
    .split('.')
    .reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], claims);
}

function groupsOf(claims: Record<string, unknown>, path: string): string[] {
  const value = claimAt(claims, path);
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : [];
}

function identityOf(claims: Record<string, unknown>, groupsClaim: string): Identity {
  return {
    email: typeof claims.email === 'string' ? claims.email.toLowerCase() : undefined,
    emailVerified: typeof claims.email_verified === 'boolean' ? claims.email_verified : undefined,
    groups: groupsOf(claims, groupsClaim),
  };
}

/**
 * Verifies the OpenID Connect access tokens the Temporal Web UI sends to the codec endpoint
 * (TEMPORAL_CODEC_PASS_ACCESS_TOKEN): signature against the provider's JWKS (from its discovery document, both
 * cached; jose refetches the key set when a token names a key it has not seen, so key rotation needs no restart),
 * issuer, expiry and audience (`aud`, or `azp` as Keycloak puts the client there). The caller is an admin when the
 * token's (or, when the token has no e-mail, the userinfo endpoint's) verified e-mail is in TEMPORAL_UI_ADMIN_EMAILS
 * or a group of TEMPORAL_UI_OIDC_GROUPS_CLAIM is in TEMPORAL_UI_ADMIN_GROUPS.
 */
@Injectable()
export class OidcAccessTokens {
  private readonly logger = new Logger(OidcAccessTokens.name);
  private readonly settings?: TemporalUiOidcConfig;
  private provider?: Promise<Provider>;
  private readonly userinfo = new Map<string, { identity: Identity; until: number }>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.settings = config.temporalUiOidc;
    if (this.settings && this.settings.adminEmails.size === 0 && this.settings.adminGroups.size === 0)
      this.logger.warn(
        'TEMPORAL_UI_OIDC_ISSUER_URL is set but TEMPORAL_UI_ADMIN_EMAILS and TEMPORAL_UI_ADMIN_GROUPS are not: no Web UI user can decode payloads',
      );
  }

  get enabled(): boolean {
    return this.settings !== undefined;
  }

  async authenticate(token: string): Promise<Principal> {
    const settings = this.settings;
    if (!settings)
      throw new ApiError(401, 'OpenID Connect tokens are not accepted (TEMPORAL_UI_OIDC_ISSUER_URL unset)');
    const provider = await this.currentProvider(settings);
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, provider.keys, {
        issuer: provider.discovery.issuer,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      if (error instanceof errors.JOSEError && TOKEN_PROBLEMS.has(error.code))
        throw new ApiError(401, `invalid access token: ${error.message}`);
      throw this.unreachable('its keys', error);
    }
    const audiences = ([] as string[]).concat(claims.aud ?? []);
    const authorizedParty = typeof claims.azp === 'string' ? claims.azp : undefined;
    if (!settings.audiences.some((audience) => audiences.includes(audience) || authorizedParty === audience))
      throw new ApiError(401, `invalid access token: its audience is not ${settings.audiences.join(' or ')}`);

    let identity = identityOf(claims, settings.groupsClaim);
    const isAdmin = (who: Identity) =>
      who.groups.some((group) => settings.adminGroups.has(group)) ||
      (who.email !== undefined && who.emailVerified !== false && settings.adminEmails.has(who.email));
    if (
      !isAdmin(identity) &&
      identity.email === undefined &&
      settings.adminEmails.size > 0 &&
      provider.discovery.userinfo_endpoint
    )
      identity = await this.userinfoIdentity(token, claims, provider.discovery.userinfo_endpoint, settings);
    const subject = createHash('sha256').update(`${claims.iss}\n${claims.sub}`).digest('hex').slice(0, 16);
    return { email: identity.email ?? `oidc:${claims.sub}`, admin: isAdmin(identity), keyId: `oidc:${subject}` };
  }

  private currentProvider(settings: TemporalUiOidcConfig): Promise<Provider> {
    const cached = this.provider;
    if (cached) {
      return cached.then((provider) => {
        if (Date.now() - provider.fetchedAt < DISCOVERY_MAX_AGE_MS) return provider;
        this.provider = undefined;
        return this.currentProvider(settings);
      });
    }
    const loading = this.discover(settings);
    this.provider = loading;
    // A failed discovery is not kept: the next request asks the provider again.
    loading.catch(() => {
      if (this.provider === loading) this.provider = undefined;
    });
    return loading;
  }

  private async discover(settings: TemporalUiOidcConfig): Promise<Provider> {
    const url = `${settings.issuerUrl}/.well-known/openid-configuration`;
    let discovery: Discovery;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS) });
      if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`);
      discovery = (await response.json()) as Discovery;
    } catch (error) {
      throw this.unreachable('its discovery document', error);
    }
    if (typeof discovery.jwks_uri !== 'string' || discovery.issuer?.replace(/\/$/, '') !== settings.issuerUrl)
      throw this.unreachable('its discovery document', new Error(`${url} names another issuer or no jwks_uri`));
    return {
      discovery,
      keys: createRemoteJWKSet(new URL(discovery.jwks_uri), { timeoutDuration: PROVIDER_TIMEOUT_MS }),
      fetchedAt: Date.now(),
    };
  }

  /** Access tokens without an e-mail claim (Auth0, Okta without a claim mapping): the provider's userinfo says. */
  private async userinfoIdentity(
    token: string,
    claims: JWTPayload,
    endpoint: string,
    settings: TemporalUiOidcConfig,
  ): Promise<Identity> {
    const cacheKey = createHash('sha256').update(token).digest('hex');
    const cached = this.userinfo.get(cacheKey);
    if (cached && cached.until > Date.now()) return cached.identity;
    let answer: Record<string, unknown>;
    try {
      const response = await fetch(endpoint, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
        signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
      });
      if (response.status === 401 || response.status === 403)
        throw new ApiError(401, 'invalid access token: the userinfo endpoint refused it');
      if (!response.ok) throw new Error(`HTTP ${response.status} from the userinfo endpoint`);
      answer = (await response.json()) as Record<string, unknown>;
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw this.unreachable('its userinfo endpoint', error);
    }
    // OpenID Connect Core 5.3.2: a userinfo answer for another subject must not be used.
    if (answer.sub !== claims.sub) throw new ApiError(401, 'invalid access token: userinfo names another subject');
    const identity = identityOf({ ...claims, ...answer }, settings.groupsClaim);
    if (this.userinfo.size >= USERINFO_CACHE_ENTRIES) this.userinfo.clear();
    this.userinfo.set(cacheKey, {
      identity,
      until: Math.min(Date.now() + USERINFO_MAX_AGE_MS, (claims.exp ?? 0) * 1000),
    });
    return identity;
  }

  private unreachable(what: string, error: unknown): ApiError {
    this.logger.warn(`OpenID Connect provider ${what}: ${(error as Error).message}`);
    return new ApiError(503, `the identity provider's ${what} could not be read; try again later`);
  }
}
