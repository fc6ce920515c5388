import type { ZodError, ZodTypeAny, z } from 'zod';
import { ApiError } from './api-error';

function describe(error: ZodError, prefix: string): { message: string; field?: string } {
  const issue = error.issues[0];
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  return { message: `${field || 'body'}: ${issue.message}${more}`, field: field || undefined };
}

/** Validates untrusted input with a zod schema; failures become 400 errors naming the field. */
export function parseOrThrow<S extends ZodTypeAny>(schema: S, value: unknown, fieldPrefix = ''): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const { message, field } = describe(result.error, fieldPrefix);
    throw ApiError.badRequest(message, field);
  }
  return result.data;
}

/** Parses a multipart form field that carries a JSON document. */
export function parseJsonField(raw: unknown, fieldName: string): unknown {
  if (typeof raw !== 'string' || raw.trim() === '')
    throw ApiError.badRequest(`${fieldName}: required form field (a JSON string) is missing`, fieldName);
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw ApiError.badRequest(`${fieldName}: not valid JSON (${(error as Error).message})`, fieldName);
  }
}
