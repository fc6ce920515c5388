import { HttpException, HttpStatus } from '@nestjs/common';

/** Body of every error response: `{ statusCode, error, message, field? }`. */
export interface ApiErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** Dotted path of the offending request field, when one field is to blame. */
  field?: string;
  details?: unknown;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export class ApiError extends HttpException {
  constructor(statusCode: number, message: string, field?: string, details?: unknown) {
    const body: ApiErrorBody = { statusCode, error: REASONS[statusCode] ?? 'Error', message };
    if (field) body.field = field;
    if (details !== undefined) body.details = details;
    super(body, statusCode);
  }

  static badRequest(message: string, field?: string): ApiError {
    return new ApiError(HttpStatus.BAD_REQUEST, message, field);
  }

  static notFound(message: string): ApiError {
    return new ApiError(HttpStatus.NOT_FOUND, message);
  }

  static unprocessable(message: string, field?: string, details?: unknown): ApiError {
    return new ApiError(HttpStatus.UNPROCESSABLE_ENTITY, message, field, details);
  }

  static conflict(message: string, field?: string): ApiError {
    return new ApiError(HttpStatus.CONFLICT, message, field);
  }
}

/** A multipart body busboy cannot parse (no boundary, a malformed part header, truncated): 400 naming the body. */
export function malformedMultipart(error: Error): ApiError {
  const reason = error.message.replace(/^Multipart: /, '');
  return ApiError.badRequest(`body: malformed multipart/form-data (${reason})`, 'body');
}
