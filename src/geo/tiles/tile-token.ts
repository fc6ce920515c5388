import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Tile tokens: map clients (Leaflet, OpenLayers, QGIS) cannot send an Authorization header, so tile URLs
 * carry `token=<expires>.<signature>` in the query string: expires in unix seconds, signature the hex
 * HMAC-SHA256 of "taskId\nexpires" under a key derived from the URL signing secret. The derivation keeps
 * tile tokens and signed file URLs (same secret) from ever being interchangeable. From generation 1 on (the
 * inference's token generation, raised to revoke its tokens) the generation is signed too, so every token of an
 * earlier generation stops matching; generation 0 signs as before, so tokens issued before revocation existed hold.
 */
function tileKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('geo-inference tile token v1').digest();
}

export function signTileToken(taskId: string, expires: number, secret: string, generation = 0): string {
  const message = generation > 0 ? `${taskId}\n${expires}\n${generation}` : `${taskId}\n${expires}`;
  const signature = createHmac('sha256', tileKey(secret)).update(message).digest('hex');
  return `${expires}.${signature}`;
}

export type TileTokenCheck =
  { valid: true; expires: number } | { valid: false; reason: 'missing' | 'malformed' | 'bad-signature' | 'expired' };

/** Constant-time check; the signature is verified before the expiry, so a forged expired token reads as forged. */
export function verifyTileToken(
  taskId: string,
  token: unknown,
  secret: string,
  now = Math.floor(Date.now() / 1000),
  generation = 0,
): TileTokenCheck {
  if (token === undefined || token === '') return { valid: false, reason: 'missing' };
  const match = typeof token === 'string' ? /^(\d{1,12})\.([0-9a-f]{64})$/.exec(token) : null;
  if (!match) return { valid: false, reason: 'malformed' };
  const expires = Number(match[1]);
  const expected = Buffer.from(signTileToken(taskId, expires, secret, generation).split('.')[1]!, 'hex');
  if (!timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'))) return { valid: false, reason: 'bad-signature' };
  if (expires < now) return { valid: false, reason: 'expired' };
  return { valid: true, expires };
}

export const TOKEN_PROBLEMS: Record<Exclude<TileTokenCheck, { valid: true }>['reason'], string> = {
  missing:
    "tile requests need the token query parameter from the task's tile_url_template (GET /api/v2/inference/{id}/tasks)",
  malformed:
    "the token query parameter is malformed: expected <expires>.<signature> as in the task's tile_url_template",
  'bad-signature': 'invalid tile token for this task (signature does not match, or the token was revoked)',
  expired: 'this tile token has expired: get a fresh tile_url_template from GET /api/v2/inference/{id}/tasks',
};
