import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliError, EXIT, type GeoApi } from './api';

export interface UploadPart {
  field: string;
  /** A JSON field (the metadata), or a file streamed from disk. */
  json?: unknown;
  file?: string;
  contentType?: string;
}

export interface UploadProgress {
  /** Called as file bytes are handed to the connection. */
  onBytes(sent: number, total: number, fileIndex: number, files: number): void;
}

const CHUNK = 1024 * 1024;

/** Quotes of a multipart file name (RFC 7578 leaves escaping to percent-encoding). */
function quoted(name: string): string {
  return name.replace(/["\r\n\\]/g, (char) => encodeURIComponent(char));
}

/**
 * POSTs multipart/form-data built part by part, streaming files from disk (a bulk upload may be many GB), with
 * Content-Length computed up front so the server and the progress bar both know the size.
 */
export async function postMultipart<T>(
  api: GeoApi,
  route: string,
  parts: UploadPart[],
  progress?: UploadProgress,
): Promise<T> {
  const boundary = `geo-inference-${randomUUID()}`;
  const heads: Buffer[] = parts.map((part) => {
    const disposition = part.file
      ? `form-data; name="${part.field}"; filename="${quoted(path.basename(part.file))}"`
      : `form-data; name="${part.field}"`;
    const type = part.file ? (part.contentType ?? 'application/octet-stream') : 'application/json';
    return Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: ${type}\r\n\r\n`);
  });
  const bodies: Array<Buffer | { file: string; size: number }> = parts.map((part) => {
    if (!part.file) return Buffer.from(JSON.stringify(part.json));
    try {
      return { file: part.file, size: fs.statSync(part.file).size };
    } catch (error) {
      throw new CliError(`cannot read ${part.file}: ${(error as Error).message}`, EXIT.USAGE);
    }
  });
  const tail = Buffer.from(`--${boundary}--\r\n`);
  const fileBytes = bodies.reduce((sum, body) => sum + (Buffer.isBuffer(body) ? 0 : body.size), 0);
  const total =
    heads.reduce((sum, head) => sum + head.length, 0) +
    bodies.reduce((sum, body) => sum + (Buffer.isBuffer(body) ? body.length : body.size) + 2, 0) +
    tail.length;
  const files = bodies.filter((body) => !Buffer.isBuffer(body)).length;

  async function* stream(): AsyncGenerator<Uint8Array> {
    let sent = 0;
    let fileIndex = 0;
    for (const [index, head] of heads.entries()) {
      yield head;
      const body = bodies[index];
      if (Buffer.isBuffer(body)) yield body;
      else {
        fileIndex++;
        for await (const chunk of fs.createReadStream(body.file, { highWaterMark: CHUNK })) {
          sent += (chunk as Buffer).length;
          progress?.onBytes(sent, fileBytes, fileIndex, files);
          yield chunk as Buffer;
        }
      }
      yield Buffer.from('\r\n');
    }
    yield tail;
  }

  return api.json<T>(route, {
    method: 'POST',
    headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(total) },
    body: stream() as unknown as RequestInit['body'],
    duplex: 'half',
  });
}
