import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { guessContentType } from './content-type';
import { streamToFileAtomically } from './local-file';
import {
  assertValidExpiry,
  assertValidKey,
  assertValidPrefix,
  assertValidRange,
  compareKeys,
  encodeKeyForUrl,
  InvalidObjectKeyError,
  ObjectNotFoundError,
  type ObjectStore,
  type PutOptions,
  type StoredObjectInfo,
} from './object-store';

/** Name of the file under DATA_DIR that keeps the generated URL signing secret. */
export const URL_SIGNING_SECRET_FILE = 'url-signing-secret';

/** Temp files of in-flight writes: `.put-<hex>.partial`, next to their target; never listed as objects. */
const TEMP_FILE = /^\.put-[0-9a-f]{16}\.partial$/;

function tempName(): string {
  return `.put-${randomBytes(8).toString('hex')}.partial`;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** HMAC-SHA256 (hex) over "key\nexpires" — the signature of a filesystem-store file URL. */
export function signFileUrl(key: string, expires: number, secret: string): string {
  return createHmac('sha256', secret).update(`${key}\n${expires}`).digest('hex');
}

export type SignedUrlCheck = { valid: true } | { valid: false; reason: 'malformed' | 'bad-signature' | 'expired' };

/**
 * Verifies a signed file URL's `expires` (unix seconds) and `signature` for a key, in constant time.
 * `now` is in unix seconds. The signature is checked before the expiry so an expired URL with a forged
 * signature is reported as forged.
 */
export function verifySignedFileUrl(
  key: string,
  expires: string | number | undefined,
  signature: string | undefined,
  secret: string,
  now: number = Math.floor(Date.now() / 1000),
): SignedUrlCheck {
  const expiresText = typeof expires === 'number' ? String(expires) : expires;
  if (!expiresText || !/^\d{1,12}$/.test(expiresText)) return { valid: false, reason: 'malformed' };
  if (!signature || !/^[0-9a-f]{64}$/i.test(signature)) return { valid: false, reason: 'malformed' };
  const expected = Buffer.from(signFileUrl(key, Number(expiresText), secret), 'hex');
  const presented = Buffer.from(signature, 'hex');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected))
    return { valid: false, reason: 'bad-signature' };
  if (Number(expiresText) < now) return { valid: false, reason: 'expired' };
  return { valid: true };
}

/**
 * Returns the secret stored at `<dataDir>/url-signing-secret`, creating it (32 random bytes, hex, mode
 * 0600) on first use. Safe against concurrent first starts of several processes: the file is written
 * under a temp name and hard-linked into place, so exactly one secret wins and everyone reads it.
 */
export function loadOrCreateUrlSigningSecret(dataDir: string): string {
  const file = path.join(dataDir, URL_SIGNING_SECRET_FILE);
  const read = (): string => {
    const secret = fs.readFileSync(file, 'utf8').trim();
    if (secret.length < 16)
      throw new Error(`${file} holds a secret shorter than 16 characters; delete it to generate a new one`);
    return secret;
  };
  try {
    return read();
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const temp = path.join(dataDir, `.${URL_SIGNING_SECRET_FILE}.${randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(temp, 'wx', 0o600);
  try {
    fs.writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(temp, file);
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
  } finally {
    fs.rmSync(temp, { force: true });
  }
  return read();
}

/** URL_SIGNING_SECRET when configured, else the persisted generated secret under DATA_DIR. */
export function resolveUrlSigningSecret(config: { URL_SIGNING_SECRET?: string; DATA_DIR: string }): string {
  return config.URL_SIGNING_SECRET ?? loadOrCreateUrlSigningSecret(config.DATA_DIR);
}

export interface OpenedObject extends StoredObjectInfo {
  createReadStream(range?: { start: number; end: number }): Readable;
  close(): Promise<void>;
}

export interface FilesystemObjectStoreOptions {
  /** Directory holding the objects; created by ensureReady. */
  rootDir: string;
  /** Base URL of the API serving GET /files/* (no trailing slash needed). */
  publicBaseUrl: string;
  /** HMAC secret for signed URLs (at least 16 characters). */
  signingSecret: string;
}

/**
 * Object store on a local directory: key `a/b/c.tif` is the file `<root>/a/b/c.tif`. Writes go to a
 * temp file in the target directory, are fsynced and renamed into place, so readers and crashes never
 * see a partial object under a real key. Signed URLs point at the API's GET /files/* route
 * (SignedFilesController), which checks them with verifySignedFileUrl.
 *
 * Limitation inherent to a filesystem: a key cannot be both an object and a "directory" of other keys
 * (`a/b` and `a/b/c` cannot coexist); such a put fails with a clear error.
 */
export class FilesystemObjectStore implements ObjectStore {
  readonly rootDir: string;
  private readonly publicBaseUrl: string;
  private readonly signingSecret: string;

  constructor(options: FilesystemObjectStoreOptions) {
    if (!options.signingSecret || options.signingSecret.length < 16)
      throw new Error('FilesystemObjectStore needs a signing secret of at least 16 characters');
    this.rootDir = path.resolve(options.rootDir);
    this.publicBaseUrl = options.publicBaseUrl.replace(/\/+$/, '');
    this.signingSecret = options.signingSecret;
  }

  async ensureReady(): Promise<void> {
    await fsp.mkdir(this.rootDir, { recursive: true });
  }

  /** Absolute path of a key; throws InvalidObjectKeyError for bad keys or paths escaping the root. */
  pathOf(key: string): string {
    assertValidKey(key);
    if (key.split('/').some((segment) => TEMP_FILE.test(segment)))
      throw new InvalidObjectKeyError(key, 'reserved temp-file name');
    return this.inside(key, path.resolve(this.rootDir, ...key.split('/')));
  }

  private inside(key: string, resolved: string): string {
    const relative = path.relative(this.rootDir, resolved);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative))
      throw new InvalidObjectKeyError(key, 'resolves outside the storage root');
    return resolved;
  }

  async putObject(key: string, body: Buffer | Readable, _options?: PutOptions): Promise<StoredObjectInfo> {
    let target: string;
    try {
      target = this.pathOf(key);
    } catch (error) {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw error;
    }
    try {
      await this.writeAtomically(key, target, (handle) => writeBody(handle, body));
    } catch (error) {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw error;
    }
    return this.statPath(key, target);
  }

  async putFile(key: string, filePath: string, options?: PutOptions): Promise<StoredObjectInfo> {
    this.pathOf(key);
    return this.putObject(key, fs.createReadStream(filePath), options);
  }

  private async writeAtomically(
    key: string,
    target: string,
    write: (handle: fsp.FileHandle) => Promise<void>,
  ): Promise<void> {
    const dir = path.dirname(target);
    const temp = path.join(dir, tempName());
    let handle: fsp.FileHandle | undefined;
    // A concurrent deletePrefix may remove the (empty) directory between mkdir and open: retry a little.
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.mkdir(dir, { recursive: true });
        handle = await fsp.open(temp, 'wx', 0o644);
        break;
      } catch (error) {
        const code = errorCode(error);
        if (code === 'ENOENT' && attempt < 5) continue;
        if (code === 'ENOTDIR' || code === 'EEXIST')
          throw new InvalidObjectKeyError(key, 'a parent of this key is itself an object');
        throw error;
      }
    }
    try {
      try {
        await write(handle);
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        await fsp.rename(temp, target);
      } catch (error) {
        const code = errorCode(error);
        if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
          throw new InvalidObjectKeyError(key, 'other objects exist under this key as a prefix');
        }
        throw error;
      }
    } catch (error) {
      await fsp.rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
    await syncDirectory(dir);
  }

  async getObject(key: string): Promise<Buffer> {
    const file = this.pathOf(key);
    try {
      return await fsp.readFile(file);
    } catch (error) {
      throw this.translate(key, error);
    }
  }

  async getRange(key: string, start: number, length: number): Promise<Buffer> {
    assertValidRange(start, length);
    const file = this.pathOf(key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (error) {
      throw this.translate(key, error);
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new ObjectNotFoundError(key);
      const available = Math.max(0, Math.min(length, stats.size - start));
      const buffer = Buffer.allocUnsafe(available);
      let filled = 0;
      // Positioned reads may return fewer bytes than asked: loop until the range (or the file) ends.
      while (filled < available) {
        const { bytesRead } = await handle.read(buffer, filled, available - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === available ? buffer : buffer.subarray(0, filled);
    } catch (error) {
      throw this.translate(key, error);
    } finally {
      await handle.close();
    }
  }

  async getStream(key: string): Promise<Readable> {
    return this.openReadStream(key);
  }

  /** A read stream of the whole object, or of bytes start..end (inclusive). */
  async openReadStream(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const opened = await this.openObject(key);
    return opened.createReadStream(range);
  }

  /**
   * Opens an object for reading: size and mtime come from the open file, so they match the bytes a
   * later createReadStream returns even if the key is overwritten meanwhile. Call close() if no stream
   * is created; a created stream closes the file itself when it ends or is destroyed.
   */
  async openObject(key: string): Promise<OpenedObject> {
    const file = this.pathOf(key);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (error) {
      throw this.translate(key, error);
    }
    let stats: fs.Stats;
    try {
      stats = await handle.stat();
      if (!stats.isFile()) throw new ObjectNotFoundError(key);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw this.translate(key, error);
    }
    return {
      key,
      size: stats.size,
      lastModified: new Date(stats.mtimeMs),
      contentType: guessContentType(key),
      createReadStream: (range) => handle.createReadStream(range ? { start: range.start, end: range.end } : {}),
      close: () => handle.close(),
    };
  }

  async downloadToFile(key: string, filePath: string): Promise<void> {
    await streamToFileAtomically(await this.openReadStream(key), filePath);
  }

  async stat(key: string): Promise<StoredObjectInfo | undefined> {
    const file = this.pathOf(key);
    try {
      return await this.statPath(key, file);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return undefined;
      throw error;
    }
  }

  private async statPath(key: string, file: string): Promise<StoredObjectInfo> {
    let stats: fs.Stats;
    try {
      stats = await fsp.stat(file);
    } catch (error) {
      throw this.translate(key, error);
    }
    if (!stats.isFile()) throw new ObjectNotFoundError(key);
    return { key, size: stats.size, lastModified: new Date(stats.mtimeMs), contentType: guessContentType(key) };
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== undefined;
  }

  async list(prefix: string): Promise<StoredObjectInfo[]> {
    assertValidPrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const baseDir = baseKey ? this.inside(prefix, path.resolve(this.rootDir, ...baseKey.split('/'))) : this.rootDir;
    const found: StoredObjectInfo[] = [];
    await this.walk(baseDir, baseKey, prefix, found);
    return found.sort((a, b) => compareKeys(a.key, b.key));
  }

  private async walk(dir: string, dirKey: string, prefix: string, found: StoredObjectInfo[]): Promise<void> {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
      throw error;
    }
    for (const entry of entries) {
      if (TEMP_FILE.test(entry.name)) continue;
      const key = dirKey ? `${dirKey}/${entry.name}` : entry.name;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        // Descend only where keys can still match the prefix.
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) await this.walk(full, key, prefix, found);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        try {
          const stats = await fsp.stat(full);
          found.push({
            key,
            size: stats.size,
            lastModified: new Date(stats.mtimeMs),
            contentType: guessContentType(key),
          });
        } catch (error) {
          if (errorCode(error) !== 'ENOENT') throw error; // deleted while listing
        }
      }
    }
  }

  async deleteObject(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      const stats = await fsp.lstat(file);
      if (stats.isDirectory()) return;
      await fsp.unlink(file);
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
      throw error;
    }
    await this.removeEmptyParents(path.dirname(file));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const objects = await this.list(prefix);
    let deleted = 0;
    const dirs = new Set<string>();
    for (const object of objects) {
      const file = this.pathOf(object.key);
      try {
        await fsp.unlink(file);
        deleted++;
        dirs.add(path.dirname(file));
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw error;
      }
    }
    // Deepest directories first, so parents are empty by the time we reach them.
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await this.removeEmptyParents(dir);
    return deleted;
  }

  /** Removes dir and its ancestors while they are empty, never the root itself. */
  private async removeEmptyParents(dir: string): Promise<void> {
    let current = dir;
    while (current !== this.rootDir && current.startsWith(this.rootDir + path.sep)) {
      try {
        await fsp.rmdir(current);
      } catch {
        return; // not empty (or already gone / raced with a writer): stop here
      }
      current = path.dirname(current);
    }
  }

  async signedGetUrl(key: string, expiresInSeconds: number): Promise<string> {
    assertValidKey(key);
    assertValidExpiry(expiresInSeconds);
    const expires = Math.floor(Date.now() / 1000) + expiresInSeconds;
    const signature = signFileUrl(key, expires, this.signingSecret);
    return `${this.publicBaseUrl}/files/${encodeKeyForUrl(key)}?expires=${expires}&signature=${signature}`;
  }

  /** Checks a signed URL's query parameters for a key (used by GET /files/*). */
  verifySignedUrl(
    key: string,
    expires: string | undefined,
    signature: string | undefined,
    now?: number,
  ): SignedUrlCheck {
    return verifySignedFileUrl(key, expires, signature, this.signingSecret, now);
  }

  private translate(key: string, error: unknown): Error {
    if (error instanceof ObjectNotFoundError) return error;
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return new ObjectNotFoundError(key);
    return error as Error;
  }
}

/** Writes a buffer or a stream (chunk by chunk, awaiting each write: backpressure, bounded memory). */
async function writeBody(handle: fsp.FileHandle, body: Buffer | Readable): Promise<void> {
  const chunks: AsyncIterable<unknown> | Iterable<unknown> = Buffer.isBuffer(body) ? [body] : body;
  for await (const chunk of chunks) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
    let offset = 0;
    while (offset < buffer.length) {
      const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset);
      offset += bytesWritten;
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the rename durable; not supported on every platform/filesystem, so best effort.
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch {
    // ignore
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
