import type { PipeTransform } from '@nestjs/common';
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

/** A parameter pipe validating with parseOrThrow, e.g. `@Query(zodPipe(listQuerySchema))`. */
export function zodPipe<S extends ZodTypeAny>(schema: S, fieldPrefix = ''): PipeTransform<unknown, z.infer<S>> {
  return { transform: (value: unknown) => parseOrThrow(schema, value, fieldPrefix) };
}

/** A body pipe: a JSON object is required, then validated with parseOrThrow. */
export function jsonObjectBodyPipe<S extends ZodTypeAny>(schema: S): PipeTransform<unknown, z.infer<S>> {
  return {
    transform: (value: unknown) => {
      if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw ApiError.badRequest('body: a JSON object is required (Content-Type: application/json)');
      }
      return parseOrThrow(schema, value);
    },
  };
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
