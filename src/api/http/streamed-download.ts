import type { Readable } from 'node:stream';
import { HttpException, type LoggerService, StreamableFile } from '@nestjs/common';
import type { StreamableFileOptions } from '@nestjs/common/file-stream/interfaces';
import type { Response } from 'express';
import { ApiError } from './api-error';

/**
 * A download streamed from storage. A source that fails before the first byte answers like any other error
 * (JSON, its own status); one that fails later aborts the connection, so a client never takes a truncated
 * body for a whole file (Nest's default would answer 400 text, or end the chunked body as if complete).
 */
export function streamedDownload(
  stream: Readable,
  options: StreamableFileOptions,
  logger: LoggerService,
): StreamableFile {
  return new StreamableFile(stream, options)
    .setErrorLogger((error) => logger.warn(`download of ${options.disposition ?? 'a file'} failed: ${error.message}`))
    .setErrorHandler((error, response) => {
      const res = response as unknown as Response;
      if (res.destroyed) return;
      if (res.headersSent) {
        res.destroy(error);
        return;
      }
      const failure =
        error instanceof HttpException
          ? error
          : new ApiError(503, `the file could not be read from storage: ${error.message}`);
      res.removeHeader('Content-Disposition');
      res.removeHeader('Content-Length');
      res.status(failure.getStatus()).type('application/json').send(JSON.stringify(failure.getResponse()));
    });
}
