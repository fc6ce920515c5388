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
  constructor(readonly key: string, reason: string) {
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
