import type { ArgumentMetadata, PipeTransform } from '@nestjs/common';
import type { ZodError, ZodTypeAny, z } from 'zod';
import { ApiError } from './api-error';

function describe(error: ZodError, prefix: string): { message: string; field?: string } {
  const issue = error.issues[0];
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  return { message: `${field || 'body'}: ${issue.message}${more}`, field: field || undefined };
}

/**
 * The dotted path of the first string (or object key) holding a NUL character, which PostgreSQL cannot store
 * in text or jsonb; undefined when there is none.
 */
export function findNulCharacter(value: unknown, path: string[] = [], depth = 0): string[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (value === null || typeof value !== 'object' || depth > 64) return undefined;
  for (const [key, item] of Object.entries(value)) {
    if (key.includes('\u0000')) return [...path, key.replace(/\u0000/g, '\\u0000')];
    const found = findNulCharacter(item, [...path, key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** 400 naming the field when a value carries a NUL character anywhere. */
export function rejectNulCharacters(value: unknown, fieldPrefix = ''): void {
  const found = findNulCharacter(value);
  if (!found) return;
  const field = [fieldPrefix, ...found].filter(Boolean).join('.') || 'body';
  throw ApiError.badRequest(`${field}: must not contain NUL (\\u0000) characters`, field);
}

/** Validates untrusted input with a zod schema; failures become 400 errors naming the field. */
export function parseOrThrow<S extends ZodTypeAny>(schema: S, value: unknown, fieldPrefix = ''): z.infer<S> {
  rejectNulCharacters(value, fieldPrefix);
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

/**
 * A global pipe: no body, query or path value with a NUL character reaches a handler (and so the database),
 * whether or not the route validates that value with a schema.
 */
export const rejectNulCharactersPipe: PipeTransform = {
  transform(value: unknown, metadata: ArgumentMetadata) {
    if (metadata.type === 'custom') return value;
    // A path parameter is named as a whole (`*path` arrives as its segments).
    if (metadata.type === 'param' && metadata.data) {
      if (findNulCharacter(value)) rejectNulCharacters('\u0000', metadata.data);
      return value;
    }
    rejectNulCharacters(value, metadata.type === 'body' ? '' : (metadata.data ?? ''));
    return value;
  },
};
