import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Tile tokens: map clients (Leaflet, OpenLayers, QGIS) cannot send an Authorization header, so tile URLs
 * carry `token=<expires>.<signature>` in the query string: expires in unix seconds, signature the hex
 * HMAC-SHA256 of "taskId\nexpires" under a key derived from the URL signing secret. The derivation keeps
 * tile tokens and signed file URLs (same secret) from ever being interchangeable.
 */
function tileKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('geo-inference tile token v1').digest();
}

export function signTileToken(taskId: string, expires: number, secret: string): string {
  const signature = createHmac('sha256', tileKey(secret)).update(`${taskId}\n${expires}`).digest('hex');
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
): TileTokenCheck {
  if (token === undefined || token === '') return { valid: false, reason: 'missing' };
  const match = typeof token === 'string' ? /^(\d{1,12})\.([0-9a-f]{64})$/.exec(token) : null;
  if (!match) return { valid: false, reason: 'malformed' };
  const expires = Number(match[1]);
  const expected = Buffer.from(signTileToken(taskId, expires, secret).split('.')[1]!, 'hex');
  if (!timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'))) return { valid: false, reason: 'bad-signature' };
  if (expires < now) return { valid: false, reason: 'expired' };
  return { valid: true, expires };
}

export const TOKEN_PROBLEMS: Record<Exclude<TileTokenCheck, { valid: true }>['reason'], string> = {
  missing:
    "tile requests need the token query parameter from the task's tile_url_template (GET /api/v2/inference/{id}/tasks)",
  malformed:
    "the token query parameter is malformed: expected <expires>.<signature> as in the task's tile_url_template",
  'bad-signature': 'invalid tile token for this task (signature does not match)',
  expired: 'this tile token has expired: get a fresh tile_url_template from GET /api/v2/inference/{id}/tasks',
};
