import { createHash, randomBytes } from 'node:crypto';

/** New keys: `gik_` + 256 random bits (base64url), so a SHA-256 digest is as safe to store as a password hash. */
export function generateApiKey(): string {
  return `gik_${randomBytes(32).toString('base64url')}`;
}

export function apiKeySha256(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** What a listing shows of a key: enough to tell keys apart, far too little to use. */
export function apiKeyPrefix(key: string): string {
  return key.slice(0, 12);
}
