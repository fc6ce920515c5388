import type { Request } from 'express';
import busboy from 'busboy';
import { ApiError, malformedMultipart } from '../http/api-error';
import type { ObjectStore } from '../../platform/storage/object-store';

export interface UploadedInput {
  key: string;
  file_name: string;
}

export interface BulkUploadLimits {
  maxFiles: number;
  maxFileBytes: number;
}

/** Keeps letters, digits, '.', '_' and '-' of a client's file name (never a path). */
export function safeFileName(name: string, index: number): string {
  const base = (name.split(/[\\/]/).pop() ?? '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  return base.slice(-120) || `file-${index + 1}.tif`;
}

/**
 * Streams a multipart bulk upload straight into object storage, one object per file part, never holding a
 * whole file in memory. The JSON `inference` field must come before the files so a bad request is refused
 * before anything is stored; if anything fails, everything stored so far is deleted.
 */
export async function receiveBulkUpload(
  request: Request,
  store: ObjectStore,
  keyFor: (index: number, fileName: string) => string,
  onInferenceField: (raw: string) => void,
  limits: BulkUploadLimits,
): Promise<UploadedInput[]> {
  const contentType = request.headers['content-type'] ?? '';
  if (!contentType.startsWith('multipart/form-data')) {
    throw new ApiError(415, 'Content-Type must be multipart/form-data with an `inference` field and `files` parts');
  }
  const uploaded: UploadedInput[] = [];
  const pending: Promise<void>[] = [];
  let sawInference = false;
  let failure: ApiError | undefined;
  const fail = (error: ApiError) => {
    failure ??= error;
  };

  await new Promise<void>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: request.headers,
        limits: { files: limits.maxFiles, fileSize: limits.maxFileBytes, fields: 5, fieldSize: 1024 * 1024 },
      });
    } catch (error) {
      // No boundary, or a Content-Type busboy cannot read: the client's request, not our failure.
      request.resume();
      reject(malformedMultipart(error as Error));
      return;
    }
    parser.on('field', (name, value) => {
      if (name !== 'inference')
        return fail(ApiError.badRequest(`unexpected form field "${name}"; send \`inference\` and \`files\``, name));
      sawInference = true;
      try {
        onInferenceField(value);
      } catch (error) {
        fail(
          error instanceof ApiError
            ? error
            : ApiError.badRequest(`inference: ${(error as Error).message}`, 'inference'),
        );
      }
    });
    parser.on('file', (name, stream, info) => {
      if (failure || name !== 'files' || !sawInference) {
        if (!failure && name !== 'files')
          fail(ApiError.badRequest(`unexpected file field "${name}"; GeoTIFFs go in \`files\` parts`, name));
        if (!failure && !sawInference)
          fail(ApiError.badRequest('inference: the JSON `inference` field must come before the files', 'inference'));
        stream.resume();
        return;
      }
      const index = uploaded.length;
      const fileName = safeFileName(info.filename ?? '', index);
      const key = keyFor(index, fileName);
      uploaded.push({ key, file_name: fileName });
      stream.on('limit', () =>
        fail(
          new ApiError(
            413,
            `files: ${fileName} is larger than ${limits.maxFileBytes} bytes (FETCH_MAX_BYTES)`,
            'files',
          ),
        ),
      );
      pending.push(
        store.putObject(key, stream, { contentType: 'image/tiff' }).then(
          () => undefined,
          (error: Error) => fail(new ApiError(503, `storing ${fileName} failed: ${error.message}`)),
        ),
      );
    });
    parser.on('filesLimit', () =>
      fail(
        new ApiError(413, `files: more than ${limits.maxFiles} files in one upload (BULK_UPLOAD_MAX_FILES)`, 'files'),
      ),
    );
    parser.on('error', (error: Error) => {
      request.unpipe(parser);
      request.resume();
      reject(malformedMultipart(error));
    });
    parser.on('close', () => resolve());
    request.pipe(parser);
  });
  await Promise.all(pending);
  if (!failure && !sawInference)
    failure = ApiError.badRequest('inference: required form field (a JSON string) is missing', 'inference');
  if (!failure && uploaded.length === 0)
    failure = ApiError.badRequest('files: at least one GeoTIFF file is required', 'files');
  if (failure) {
    await Promise.all(uploaded.map((file) => store.deleteObject(file.key).catch(() => undefined)));
    throw failure;
  }
  return uploaded;
}
