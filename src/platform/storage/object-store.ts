import type { Readable } from 'node:stream';

/** Metadata of one stored object. */
export interface StoredObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
  contentType?: string;
}

export interface PutOptions {
  contentType?: string;
}

/**
 * Object storage used by the API and the activities. Activities pass keys between steps, never bytes.
 * Two implementations share one contract suite: MinIO/S3 (production, tests) and the local filesystem
 * (embedded default). Keys are '/'-separated relative paths; '..', absolute paths and empty segments are
 * rejected with InvalidObjectKeyError.
 */
export interface ObjectStore {
  /** Creates the bucket / root directory if missing. Idempotent. */
  ensureReady(): Promise<void>;
  putObject(key: string, body: Buffer | Readable, options?: PutOptions): Promise<StoredObjectInfo>;
  /** Copies a local file into the store by streaming it (never whole in memory). */
  putFile(key: string, filePath: string, options?: PutOptions): Promise<StoredObjectInfo>;
  getObject(key: string): Promise<Buffer>;
  getStream(key: string): Promise<Readable>;
  /**
   * Bytes start .. start+length-1 of an object (a ranged GET / positioned read), for windowed readers that
   * must never hold the whole object. A range reaching past the end returns the bytes that exist (empty from
   * the end on). Throws ObjectNotFoundError for a missing key, RangeError for a negative or fractional range.
   */
  getRange(key: string, start: number, length: number): Promise<Buffer>;
  /** Streams an object to a local file (creating parent directories). */
  downloadToFile(key: string, filePath: string): Promise<void>;
  /** Returns undefined when the object does not exist. */
  stat(key: string): Promise<StoredObjectInfo | undefined>;
  exists(key: string): Promise<boolean>;
  /** All objects whose key starts with prefix, sorted by key. */
  list(prefix: string): Promise<StoredObjectInfo[]>;
  /** Deletes one object; deleting a missing key is not an error. */
  deleteObject(key: string): Promise<void>;
  /** Deletes every object under prefix; returns how many were deleted. */
  deletePrefix(prefix: string): Promise<number>;
  /** A URL that lets anyone holding it GET the object until it expires. */
  signedGetUrl(key: string, expiresInSeconds: number): Promise<string>;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`object not found: ${key}`);
    this.name = 'ObjectNotFoundError';
  }
}

export class InvalidObjectKeyError extends Error {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`invalid object key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'InvalidObjectKeyError';
  }
}

/** Validates a key and returns it normalised (no leading slash). Shared by both implementations. */
export function assertValidKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidObjectKeyError(String(key), 'empty');
  if (key.length > 1024) throw new InvalidObjectKeyError(key, 'longer than 1024 characters');
  if (key.startsWith('/')) throw new InvalidObjectKeyError(key, 'absolute keys are not allowed');
  if (key.includes('\\') || key.includes('\0')) throw new InvalidObjectKeyError(key, 'backslash or NUL');
  const segments = key.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new InvalidObjectKeyError(key, 'empty, "." or ".." path segment');
    }
  }
  return key;
}

/**
 * Validates a listing prefix: '' (everything) or a key-like string whose last segment may be empty
 * (a trailing '/') or partial ('inferences/ab' matches 'inferences/abc/x'). Returns it unchanged.
 */
export function assertValidPrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw new InvalidObjectKeyError(String(prefix), 'prefix must be a string');
  if (prefix === '') return prefix;
  if (prefix.length > 1024) throw new InvalidObjectKeyError(prefix, 'longer than 1024 characters');
  if (prefix.startsWith('/')) throw new InvalidObjectKeyError(prefix, 'absolute prefixes are not allowed');
  if (prefix.includes('\\') || prefix.includes('\0')) throw new InvalidObjectKeyError(prefix, 'backslash or NUL');
  const segments = prefix.split('/');
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    if ((segment === '' && !last) || segment === '.' || segment === '..') {
      throw new InvalidObjectKeyError(prefix, 'empty, "." or ".." path segment');
    }
  });
  return prefix;
}

/** S3's limit for presigned URLs; the filesystem store applies the same bounds so both behave alike. */
export const MIN_SIGNED_URL_SECONDS = 1;
export const MAX_SIGNED_URL_SECONDS = 7 * 24 * 60 * 60;

export function assertValidExpiry(expiresInSeconds: number): number {
  if (
    !Number.isInteger(expiresInSeconds) ||
    expiresInSeconds < MIN_SIGNED_URL_SECONDS ||
    expiresInSeconds > MAX_SIGNED_URL_SECONDS
  ) {
    throw new RangeError(
      `signed URL expiry must be a whole number of seconds between ${MIN_SIGNED_URL_SECONDS} and ${MAX_SIGNED_URL_SECONDS} (7 days), got ${expiresInSeconds}`,
    );
  }
  return expiresInSeconds;
}

/** Validates getRange's arguments (both stores accept the same ranges). */
export function assertValidRange(start: number, length: number): void {
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length < 0)
    throw new RangeError(`a byte range needs a whole start >= 0 and length >= 0, got start ${start}, length ${length}`);
}

/** Percent-encodes each segment of a key for use in a URL path, keeping the '/' separators. */
export function encodeKeyForUrl(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** Sorts keys the way S3 lists them: by their UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
