import { Controller, Get, Inject, Param, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '../http/api-error';
import { FilesystemObjectStore, type OpenedObject } from '../../platform/storage/filesystem-object-store';
import { ObjectNotFoundError, type ObjectStore } from '../../platform/storage/object-store';
import { OBJECT_STORE } from '../../platform/storage/tokens';
import { Public } from '../auth/public.decorator';
import { ApiRawResponse } from '../openapi/response-schemas';

export type ByteRange = { start: number; end: number };

/**
 * Interprets a `Range` header for an object of `size` bytes (RFC 9110 §14). Returns the single range
 * to serve, 'unsatisfiable' (416), or undefined to serve the whole object (no header, another unit,
 * a syntax error, or several ranges — which a server may answer with the full body).
 */
export function parseRangeHeader(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!match) return undefined;
  const spec = match[1].trim();
  if (spec.includes(',')) return undefined;
  const parts = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
  if (!parts || (parts[1] === '' && parts[2] === '')) return undefined;
  if (parts[1] === '') {
    const suffix = Number(parts[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(parts[1]);
  const end = parts[2] === '' ? size - 1 : Number(parts[2]);
  if (parts[2] !== '' && end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

function single(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function etagOf(object: OpenedObject): string {
  return `"${object.size.toString(16)}-${Math.floor(object.lastModified.getTime()).toString(16)}"`;
}

/**
 * GET /files/<key>?expires=<unix s>&signature=<hex>: serves objects of the filesystem store through the
 * URLs FilesystemObjectStore.signedGetUrl hands out. The signature is the credential (no API key).
 * Streams the file; supports single byte ranges (COG readers fetch headers and tiles by range).
 */
@ApiTags('files')
@Public('signed-url')
@Controller('files')
export class SignedFilesController {
  constructor(@Inject(OBJECT_STORE) private readonly store: ObjectStore) {}

  @Get('*path')
  @ApiOperation({
    summary:
      'Object of the filesystem store behind a signed URL (from output-url); supports byte ranges. The signature is the credential.',
  })
  @ApiQuery({ name: 'expires', required: true, schema: { type: 'integer' }, description: 'unix seconds' })
  @ApiQuery({ name: 'signature', required: true, schema: { type: 'string' }, description: 'HMAC of key and expiry' })
  @ApiParam({ name: 'path', description: 'the object key (slashes included)', schema: { type: 'string' } })
  @ApiRawResponse(200, 'application/octet-stream', { binary: true, description: 'the object' })
  @ApiRawResponse(206, 'application/octet-stream', { binary: true, description: 'the requested byte range' })
  async serve(
    @Param('path') pathParam: string | string[],
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const store = this.store;
    if (!(store instanceof FilesystemObjectStore)) {
      throw ApiError.notFound(
        'signed file URLs are served by the storage backend, not by this route (STORAGE_DRIVER is not filesystem)',
      );
    }
    const key = Array.isArray(pathParam) ? pathParam.join('/') : String(pathParam ?? '');
    const check = store.verifySignedUrl(key, single(request.query.expires), single(request.query.signature));
    if (!check.valid) {
      throw new ApiError(
        403,
        check.reason === 'expired'
          ? 'this signed URL has expired'
          : 'missing or invalid signature for this URL (expires and signature query parameters)',
      );
    }

    let object: OpenedObject;
    try {
      object = await store.openObject(key);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) throw ApiError.notFound(`object ${key} does not exist`);
      throw error;
    }

    let streaming = false;
    try {
      const etag = etagOf(object);
      const lastModified = object.lastModified.toUTCString();
      const expiresIn = Math.max(0, Number(request.query.expires) - Math.floor(Date.now() / 1000));
      response.setHeader('Accept-Ranges', 'bytes');
      response.setHeader('Content-Type', object.contentType ?? 'application/octet-stream');
      response.setHeader('Last-Modified', lastModified);
      response.setHeader('ETag', etag);
      response.setHeader('Cache-Control', `private, max-age=${expiresIn}`);
      response.setHeader('X-Content-Type-Options', 'nosniff');

      const ifRange = request.headers['if-range'];
      const rangeApplies = ifRange === undefined || ifRange === etag || ifRange === lastModified;
      const range = rangeApplies ? parseRangeHeader(request.headers.range, object.size) : undefined;
      if (range === 'unsatisfiable') {
        response.status(416).setHeader('Content-Range', `bytes */${object.size}`);
        response.json({
          statusCode: 416,
          error: 'Range Not Satisfiable',
          message: `the object has ${object.size} bytes`,
        });
        return;
      }
      if (range) {
        response.status(206);
        response.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${object.size}`);
        response.setHeader('Content-Length', String(range.end - range.start + 1));
      } else {
        response.status(200);
        response.setHeader('Content-Length', String(object.size));
      }
      if (request.method === 'HEAD' || object.size === 0) {
        response.end();
        return;
      }
      streaming = true;
      const body = object.createReadStream(range);
      try {
        await pipeline(body, response);
      } catch {
        // The client went away or the read failed mid-body; headers are sent, so all we can do is close.
        if (!response.destroyed) response.destroy();
      }
    } finally {
      if (!streaming) await object.close().catch(() => undefined);
    }
  }
}
