import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Events tokens: EventSource in a browser cannot send an Authorization header, so the events URL may carry
 * `token=<expires>.<user>.<signature>` instead: expires in unix seconds, user the base64url of the key's user,
 * signature the hex HMAC-SHA256 of "inferenceId\nuser\nexpires" under a key derived from the URL signing
 * secret. Bound to one inference and one user; the derivation keeps it apart from tile tokens and signed URLs.
 * The inference's token generation is signed too from generation 1 on (see tile-token.ts): raising it revokes.
 */
function eventsKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('geo-inference events token v1').digest();
}

function signature(inferenceId: string, user: string, expires: number, secret: string, generation: number): Buffer {
  const message = `${inferenceId}\n${user}\n${expires}${generation > 0 ? `\n${generation}` : ''}`;
  return createHmac('sha256', eventsKey(secret)).update(message).digest();
}

export function signEventsToken(
  inferenceId: string,
  user: string,
  expires: number,
  secret: string,
  generation = 0,
): string {
  const encodedUser = Buffer.from(user, 'utf8').toString('base64url');
  return `${expires}.${encodedUser}.${signature(inferenceId, user, expires, secret, generation).toString('hex')}`;
}

export type EventsTokenCheck =
  { valid: true; user: string; expires: number } | { valid: false; reason: 'malformed' | 'bad-signature' | 'expired' };

/** Constant-time check; the signature is verified before the expiry, so a forged expired token reads as forged. */
export function verifyEventsToken(
  inferenceId: string,
  token: unknown,
  secret: string,
  now = Math.floor(Date.now() / 1000),
  generation = 0,
): EventsTokenCheck {
  const match = typeof token === 'string' ? /^(\d{1,12})\.([A-Za-z0-9_-]{1,600})\.([0-9a-f]{64})$/.exec(token) : null;
  if (!match) return { valid: false, reason: 'malformed' };
  const expires = Number(match[1]);
  const user = Buffer.from(match[2], 'base64url').toString('utf8');
  if (!timingSafeEqual(signature(inferenceId, user, expires, secret, generation), Buffer.from(match[3], 'hex')))
    return { valid: false, reason: 'bad-signature' };
  if (expires < now) return { valid: false, reason: 'expired' };
  return { valid: true, user, expires };
}

export const EVENTS_TOKEN_PROBLEMS: Record<Exclude<EventsTokenCheck, { valid: true }>['reason'], string> = {
  malformed: 'the token query parameter is malformed: use the token of POST /api/v2/inference/{id}/events/token',
  'bad-signature': 'invalid events token for this inference (signature does not match, or the token was revoked)',
  expired: 'this events token has expired: get a fresh one from POST /api/v2/inference/{id}/events/token',
};
