import { ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import type { ApiErrorBody } from './api-error';

const MULTER_STATUS: Record<string, [number, string]> = {
  LIMIT_FILE_SIZE: [413, 'file is larger than the allowed size'],
  LIMIT_UNEXPECTED_FILE: [400, 'unexpected file field'],
  LIMIT_FIELD_VALUE: [413, 'form field is too large'],
  LIMIT_PART_COUNT: [413, 'too many form parts'],
};

/** Every error leaves as `{ statusCode, error, message, field? }`; anything unexpected is logged as a bug. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.toBody(exception);
    if (body.statusCode >= 500)
      this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    if (!response.headersSent) response.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown): ApiErrorBody {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const payload = exception.getResponse();
      if (typeof payload === 'object' && payload !== null && 'message' in payload) {
        const record = payload as Record<string, unknown>;
        const message = Array.isArray(record.message) ? record.message.join('; ') : String(record.message);
        return {
          ...record,
          statusCode: status,
          error: String(record.error ?? exception.name),
          message,
        } as ApiErrorBody;
      }
      return { statusCode: status, error: exception.name, message: String(payload) };
    }
    const code = (exception as { code?: string; field?: string } | undefined)?.code;
    if (code && MULTER_STATUS[code]) {
      const [statusCode, message] = MULTER_STATUS[code];
      const field = (exception as { field?: string }).field;
      return {
        statusCode,
        error: statusCode === 413 ? 'Payload Too Large' : 'Bad Request',
        message: field ? `${field}: ${message}` : message,
        ...(field ? { field } : {}),
      };
    }
    if ((exception as Error | undefined)?.name === 'InvalidObjectKeyError') {
      return { statusCode: 400, error: 'Bad Request', message: (exception as Error).message };
    }
    return { statusCode: 500, error: 'Internal Server Error', message: 'unexpected server error; it has been logged' };
  }
}
