import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import multer, { MulterError } from 'multer';
import type { Observable } from 'rxjs';
import { ApiError, malformedMultipart } from '../http/api-error';
import { PROCESSOR_FILE_MAX_BYTES } from './generic-processors.dto';

const FILE_FIELD = 'generic_processor_file';

/** Receives the multipart upload (script in memory: at most 10 MB) and turns multer's errors into 4xx naming the field. */
@Injectable()
export class ProcessorUploadInterceptor implements NestInterceptor {
  private readonly upload = multer({
    storage: multer.memoryStorage(),
    // Keep the name as sent, so a name with directories is refused instead of silently shortened.
    preservePath: true,
    limits: { fileSize: PROCESSOR_FILE_MAX_BYTES, files: 1, fields: 5, fieldSize: 1024 * 1024 },
  }).single(FILE_FIELD);

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const http = context.switchToHttp();
    await new Promise<void>((resolve, reject) => {
      this.upload(http.getRequest(), http.getResponse(), (error: unknown) =>
        error ? reject(toApiError(error)) : resolve(),
      );
    });
    return next.handle();
  }
}

function toApiError(error: unknown): unknown {
  if (error instanceof ApiError) return error;
  // Anything else multer passes on comes from busboy parsing the body: no boundary, a malformed part header, ...
  if (!(error instanceof MulterError)) return malformedMultipart(error as Error);
  switch (error.code) {
    case 'LIMIT_FILE_SIZE':
      return new ApiError(
        413,
        `${FILE_FIELD}: the file is larger than the ${PROCESSOR_FILE_MAX_BYTES / (1024 * 1024)} MB limit`,
        FILE_FIELD,
      );
    case 'LIMIT_UNEXPECTED_FILE':
    case 'LIMIT_FILE_COUNT':
      return ApiError.badRequest(
        `${error.field ?? 'file'}: unexpected file field; send one script as ${FILE_FIELD}`,
        error.field ?? FILE_FIELD,
      );
    case 'LIMIT_FIELD_VALUE':
      return new ApiError(413, `${error.field ?? 'generic_processor'}: form field is larger than 1 MB`, error.field);
    default:
      return ApiError.badRequest(`multipart body: ${error.message}`);
  }
}
