import { ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger, NotFoundException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiError, type ApiErrorBody, malformedMultipart } from './api-error';
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

/** An exception turned into an answer: its body, and response headers (`Allow` of a 405). */
export interface MappedError {
  body: ApiErrorBody;
  headers?: Record<string, string>;
}

/** One kind of exception to answer; returns undefined for exceptions it does not know. */
export type ErrorMapper = (exception: unknown, request: Request) => MappedError | undefined;

export interface ExceptionFilterOptions {
  /** Methods routed for a path (an empty list: no route), for 405 answers with `Allow`. */
  allowedMethods?: (path: string) => string[];
  /** Extra mappers, tried before the built-in ones. */
  mappers?: ErrorMapper[];
  /** PostgreSQL's and object storage's ports, so a refused connection names its dependency (503). */
  dependencies?: DependencyEndpoint[];
}

const REASON: Record<number, string> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
};

const httpException: ErrorMapper = (exception) => {
  if (!(exception instanceof HttpException)) return undefined;
  // Nest's file interceptors pass busboy's parse errors on as a bare 400: name the body like our own parsers.
  if (exception.getStatus() === 400 && /^Multipart: /.test(exception.message))
    return { body: malformedMultipart(exception).getResponse() as ApiErrorBody };
  const status = exception.getStatus();
  const payload = exception.getResponse();
  if (typeof payload === 'object' && payload !== null && 'message' in payload) {
    const record = payload as Record<string, unknown>;
    const message = Array.isArray(record.message) ? record.message.join('; ') : String(record.message);
    return {
      body: { ...record, statusCode: status, error: String(record.error ?? exception.name), message } as ApiErrorBody,
    };
  }
  return { body: { statusCode: status, error: exception.name, message: String(payload) } };
};

const multerError: ErrorMapper = (exception) => {
  const code = (exception as { code?: string } | undefined)?.code;
  if (!code || !MULTER_STATUS[code]) return undefined;
  const [statusCode, message] = MULTER_STATUS[code];
  const field = (exception as { field?: string }).field;
  return {
    body: {
      statusCode,
      error: REASON[statusCode],
      message: field ? `${field}: ${message}` : message,
      ...(field ? { field } : {}),
    },
  };
};

const invalidObjectKey: ErrorMapper = (exception) =>
  (exception as Error | undefined)?.name === 'InvalidObjectKeyError'
    ? { body: { statusCode: 400, error: 'Bad Request', message: (exception as Error).message, field: 'path' } }
    : undefined;

/**
 * Errors of Express's own layers that reach us unmapped (body-parser, a bad percent-escape): http-errors
 * objects with a 4xx `status` and `expose`. Their messages are meant for the client; the body is to blame.
 */
const exposedClientError: ErrorMapper = (exception) => {
  const error = exception as { status?: number; expose?: boolean; type?: string; message?: string } | undefined;
  if (!error || typeof error.status !== 'number' || error.status < 400 || error.status >= 500 || !error.expose)
    return undefined;
  const statusCode = error.status;
  const message =
    error.type === 'entity.too.large'
      ? `body: larger than the ${typeof (error as { limit?: number }).limit === 'number' ? `${(error as { limit: number }).limit}-byte ` : ''}request size limit`
      : error.type === 'entity.parse.failed'
        ? `body: not valid JSON (${error.message})`
        : `body: ${error.message ?? 'malformed request'}`;
  return { body: { statusCode, error: REASON[statusCode] ?? 'Bad Request', message, field: 'body' } };
};

/**
 * A body-parser error as the ApiError the client gets (413 too large, 400 not JSON, 415 charset), or the
 * error itself when it is not one of those. Used where the parsers are mounted, before Nest sees the error.
 */
export function bodyParserErrorAsApiError(error: unknown): unknown {
  const mapped = exposedClientError(error, undefined as never);
  return mapped ? new ApiError(mapped.body.statusCode, mapped.body.message, mapped.body.field) : error;
}

/** Every error leaves as `{ statusCode, error, message, field? }`; anything unexpected is logged as a bug. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');
  private readonly mappers: ErrorMapper[];

  constructor(private readonly options: ExceptionFilterOptions = {}) {
    this.mappers = [
      (exception) => this.unavailable(exception),
      ...(options.mappers ?? []),
      (exception, request) => this.methodNotAllowed(exception, request),
      httpException,
      exposedClientError,
      multerError,
      invalidObjectKey,
    ];
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<Request>();
    const response = http.getResponse<Response>();
    const mapped = this.map(exception, request);
    const { body } = mapped;
    if (body.statusCode === 503) {
      // An outage of a dependency, not a bug: a warning without a stack, and a hint for clients when to retry.
      this.logger.warn(`${request.method} ${redactedUrl(request.originalUrl ?? request.url)}: 503 ${body.message}`);
      if (!response.headersSent) response.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
    } else if (body.statusCode >= 500)
      this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    if (body.statusCode === 413) {
      // Refused before the request log's middleware ran: say here which request it was.
      this.logger.warn(
        `413 ${request.method} ${redactedUrl(request.originalUrl ?? request.url)} (request id ${requestId(request, response)}): ${body.message}`,
      );
    }
    if (response.headersSent) return;
    for (const [name, value] of Object.entries(mapped.headers ?? {})) response.setHeader(name, value);
    // A handler's @Header('Content-Type', ...) is already set: an error body is JSON whatever the route serves.
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.status(body.statusCode).json(body);
  }

  private map(exception: unknown, request: Request): MappedError {
    for (const mapper of this.mappers) {
      const mapped = mapper(exception, request);
      if (mapped) return mapped;
    }
    return {
      body: { statusCode: 500, error: 'Internal Server Error', message: 'unexpected server error; it has been logged' },
    };
  }

  /** 503 naming the dependency when the error is an outage of PostgreSQL or object storage. */
  private unavailable(exception: unknown): MappedError | undefined {
    const kind = infrastructureDependency(exception);
    if (!kind) return undefined;
    const port = (exception as { port?: unknown } | undefined)?.port;
    const named = (this.options.dependencies ?? []).find((endpoint) => endpoint.port === port)?.name;
    const dependency = kind === 'network' ? (named ?? 'a backing service') : kind;
    const reason = exception instanceof Error ? exception.message : String(exception);
    return {
      body: {
        statusCode: 503,
        error: 'Service Unavailable',
        message: `the ${dependency} is unavailable (${reason}); retry in ${RETRY_AFTER_SECONDS} s`,
        details: { dependency, retry_after_seconds: RETRY_AFTER_SECONDS },
      },
    };
  }

  /** Express's "Cannot PUT /path" for a path that other methods serve: 405 with `Allow`. */
  private methodNotAllowed(exception: unknown, request: Request): MappedError | undefined {
    // Nest's not-found handler says `Cannot METHOD url` (request.route may be set by path-bound middleware).
    if (!(exception instanceof NotFoundException) || !this.options.allowedMethods) return undefined;
    if (!String(exception.message).startsWith(`Cannot ${request.method} `)) return undefined;
    const allowed = this.options.allowedMethods(request.path);
    if (allowed.length === 0 || allowed.includes(request.method)) return undefined;
    const allow = allowed.join(', ');
    return {
      body: {
        statusCode: 405,
        error: 'Method Not Allowed',
        message: `${request.method} is not allowed on ${request.path}; use ${allow}`,
      },
      headers: { Allow: allow },
    };
  }
}

function requestId(request: Request, response: Response): string {
  const id = (request as Request & { id?: unknown }).id ?? request.headers['x-request-id'];
  if (typeof id === 'string' || typeof id === 'number') return String(id);
  const generated = crypto.randomUUID();
  if (!response.headersSent) response.setHeader('X-Request-Id', generated);
  return generated;
}

/** The URL as the request log writes it: signatures and tokens blanked. */
function redactedUrl(url: string): string {
  return url.replace(/([?&](?:signature|token)=)[^&]*/g, '$1[redacted]');
}
