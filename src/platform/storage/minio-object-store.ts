import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { Client } from 'minio';
import { guessContentType } from './content-type';
import { streamToFileAtomically } from './local-file';
import {
  assertValidExpiry,
  assertValidKey,
  assertValidPrefix,
  assertValidRange,
  compareKeys,
  ObjectNotFoundError,
  type ObjectStore,
  type PutOptions,
  type StoredObjectInfo,
} from './object-store';

export interface MinioObjectStoreOptions {
  /** Endpoint URL, e.g. `http://127.0.0.1:9000` or `https://s3.example.com` (a bare `host:port` means http). */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region?: string;
  /**
   * Multipart part size in bytes (default 16 MiB). Streams of unknown length are buffered one part at a
   * time, so this bounds memory per upload; objects may be up to 10,000 parts.
   */
  partSize?: number;
}

/** Host, port and TLS flag of a MinIO/S3 endpoint URL. */
export function parseMinioEndpoint(endpoint: string): { endPoint: string; port: number; useSSL: boolean } {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`MINIO_ENDPOINT "${endpoint}" is not a valid URL (expected e.g. http://127.0.0.1:9000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`MINIO_ENDPOINT "${endpoint}" must use http or https`);
  if (url.pathname !== '/' && url.pathname !== '') throw new Error(`MINIO_ENDPOINT "${endpoint}" must not have a path`);
  const useSSL = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // IPv6 literals without brackets
  return { endPoint: host, port: url.port ? Number(url.port) : useSSL ? 443 : 80, useSSL };
}

function s3Code(error: unknown): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}

function isNotFound(error: unknown): boolean {
  const code = s3Code(error);
  return code === 'NoSuchKey' || code === 'NotFound';
}

const DEFAULT_PART_SIZE = 16 * 1024 * 1024;

/** ObjectStore on a MinIO / S3 bucket via the `minio` client. */
export class MinioObjectStore implements ObjectStore {
  readonly client: Client;
  readonly bucket: string;
  private readonly region: string;

  constructor(options: MinioObjectStoreOptions) {
    const { endPoint, port, useSSL } = parseMinioEndpoint(options.endpoint);
    this.bucket = options.bucket;
    this.region = options.region ?? 'us-east-1';
    this.client = new Client({
      endPoint,
      port,
      useSSL,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: this.region,
      partSize: options.partSize ?? DEFAULT_PART_SIZE,
    });
  }

  async ensureReady(): Promise<void> {
    if (await this.client.bucketExists(this.bucket)) return;
    try {
      await this.client.makeBucket(this.bucket, this.region);
    } catch (error) {
      // Another process created it between our check and our create.
      const code = s3Code(error);
      if (code === 'BucketAlreadyOwnedByYou') return;
      if (code === 'BucketAlreadyExists' && (await this.client.bucketExists(this.bucket))) return;
      throw error;
    }
  }

  async putObject(key: string, body: Buffer | Readable, options?: PutOptions): Promise<StoredObjectInfo> {
    return this.upload(key, body, undefined, options);
  }

  async putFile(key: string, filePath: string, options?: PutOptions): Promise<StoredObjectInfo> {
    assertValidKey(key);
    const stats = await fsp.stat(filePath);
    return this.upload(key, fs.createReadStream(filePath), stats.size, options);
  }

  private async upload(
    key: string,
    body: Buffer | Readable,
    size: number | undefined,
    options?: PutOptions,
  ): Promise<StoredObjectInfo> {
    try {
      assertValidKey(key);
    } catch (error) {
      if (!Buffer.isBuffer(body)) body.destroy();
      throw error;
    }
    const contentType = options?.contentType ?? guessContentType(key);
    const metaData = { 'Content-Type': contentType };
    if (Buffer.isBuffer(body)) {
      await this.client.putObject(this.bucket, key, body, body.length, metaData);
      return { key, size: body.length, lastModified: new Date(), contentType };
    }
    // Bytes are counted on the way through, so the size is known without a HEAD request after the PUT
    // (a pipeline writes several objects per task; each extra round trip costs both sides CPU).
    let written = 0;
    const counted = body.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          written += chunk.length;
          callback(null, chunk);
        },
      }),
    );
    // The client pipes the stream without listening for its errors; surface them ourselves so a
    // failing source rejects instead of hanging. (The half-done multipart upload is never completed.)
    let onError: ((error: Error) => void) | undefined;
    const sourceFailed = new Promise<never>((_, reject) => {
      onError = reject;
      body.once('error', reject);
    });
    try {
      await Promise.race([this.client.putObject(this.bucket, key, counted, size, metaData), sourceFailed]);
    } catch (error) {
      body.destroy();
      counted.destroy();
      throw error;
    } finally {
      if (onError) body.off('error', onError);
    }
    return { key, size: written, lastModified: new Date(), contentType };
  }

  async getObject(key: string): Promise<Buffer> {
    const stream = await this.getStream(key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getStream(key: string): Promise<Readable> {
    assertValidKey(key);
    try {
      return await this.client.getObject(this.bucket, key);
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async getRange(key: string, start: number, length: number): Promise<Buffer> {
    assertValidKey(key);
    assertValidRange(start, length);
    // The client reads "to the end" for length 0, and S3 answers 416 for a start at or past the end: both
    // are empty ranges of an object that must still exist.
    if (length === 0) {
      if (!(await this.stat(key))) throw new ObjectNotFoundError(key);
      return Buffer.alloc(0);
    }
    let stream: Readable;
    try {
      stream = await this.client.getPartialObject(this.bucket, key, start, length);
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      // A ranged GET of a missing key does not always say NoSuchKey: ask for the object before reporting.
      if (!(await this.stat(key))) throw new ObjectNotFoundError(key);
      if (s3Code(error) === 'InvalidRange') return Buffer.alloc(0);
      throw error;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  async downloadToFile(key: string, filePath: string): Promise<void> {
    await streamToFileAtomically(await this.getStream(key), filePath);
  }

  async stat(key: string): Promise<StoredObjectInfo | undefined> {
    assertValidKey(key);
    try {
      const stat = await this.client.statObject(this.bucket, key);
      const contentType = stat.metaData?.['content-type'] as string | undefined;
      return { key, size: stat.size, lastModified: stat.lastModified, ...(contentType ? { contentType } : {}) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.stat(key)) !== undefined;
  }

  async list(prefix: string): Promise<StoredObjectInfo[]> {
    assertValidPrefix(prefix);
    const found: StoredObjectInfo[] = [];
    const stream = this.client.listObjectsV2(this.bucket, prefix, true);
    for await (const item of stream) {
      if (item.name === undefined) continue; // common prefixes only appear in non-recursive listings
      found.push({ key: item.name, size: item.size, lastModified: item.lastModified });
    }
    return found.sort((a, b) => compareKeys(a.key, b.key));
  }

  async deleteObject(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.removeObject(this.bucket, key); // S3 DELETE of a missing key succeeds
  }

  async deletePrefix(prefix: string): Promise<number> {
    assertValidPrefix(prefix);
    let deleted = 0;
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const errors = (await this.client.removeObjects(this.bucket, batch)).filter((result) => result);
      if (errors.length > 0) {
        const first = errors[0] as Record<string, unknown> & { Error?: Record<string, unknown> };
        const detail = first.Error ?? first;
        throw new Error(
          `deleting ${errors.length} of ${batch.length} objects under "${prefix}" failed: ${String(detail.Code)} ${String(detail.Key ?? '')} ${String(detail.Message ?? '')}`.trim(),
        );
      }
      deleted += batch.length;
      batch = [];
    };
    for await (const item of this.client.listObjectsV2(this.bucket, prefix, true)) {
      if (item.name === undefined) continue;
      batch.push(item.name);
      if (batch.length === 1000) await flush();
    }
    await flush();
    return deleted;
  }

  async signedGetUrl(key: string, expiresInSeconds: number): Promise<string> {
    assertValidKey(key);
    assertValidExpiry(expiresInSeconds);
    return this.client.presignedGetObject(this.bucket, key, expiresInSeconds);
  }
}
