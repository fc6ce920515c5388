import { ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { ApiErrorBody } from './api-error';
import { infrastructureDependency } from '../../platform/infrastructure-errors';

/** A service the API depends on, by address: names the dependency of a bare socket error. */
export interface DependencyEndpoint {
  name: string;
  port: number;
}

/** What a client is told to wait after a 503 (an outage of a dependency): clients retry, nothing is logged as a bug. */
export const RETRY_AFTER_SECONDS = 5;

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

  constructor(private readonly endpoints: DependencyEndpoint[] = []) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.unavailable(exception) ?? this.toBody(exception);
    if (body.statusCode === 503) {
      // An outage of a dependency, not a bug: a warning without a stack, and a hint for clients when to retry.
      const request = host.switchToHttp().getRequest<Request>();
      this.logger.warn(`${request.method} ${request.originalUrl ?? request.url}: 503 ${body.message}`);
      if (!response.headersSent) response.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
    } else if (body.statusCode >= 500)
      this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    if (!response.headersSent) response.status(body.statusCode).json(body);
  }

  /** 503 naming the dependency when the error is an outage of PostgreSQL or object storage. */
  private unavailable(exception: unknown): ApiErrorBody | undefined {
    const kind = infrastructureDependency(exception);
    if (!kind) return undefined;
    const port = (exception as { port?: unknown } | undefined)?.port;
    const named = this.endpoints.find((endpoint) => endpoint.port === port)?.name;
    const dependency = kind === 'network' ? (named ?? 'a backing service') : kind;
    const reason = exception instanceof Error ? exception.message : String(exception);
    return {
      statusCode: 503,
      error: 'Service Unavailable',
      message: `the ${dependency} is unavailable (${reason}); retry in ${RETRY_AFTER_SECONDS} s`,
      details: { dependency, retry_after_seconds: RETRY_AFTER_SECONDS },
    };
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
