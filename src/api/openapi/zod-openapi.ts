import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiQuery } from '@nestjs/swagger';
import type { ExamplesObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { ZodTypeAny } from 'zod';
import { ignoreOverride, zodToJsonSchema } from 'zod-to-json-schema';

/** Schemas validated one way (hand-picked error messages, say) but documented as another: keyed by their zod def. */
const documentedAs = new WeakMap<object, ZodTypeAny>();

/**
 * `schema`, documented in OpenAPI as `documented`: for validation that JSON Schema cannot show as written (a
 * `z.unknown()` that dispatches to one of several schemas to keep that schema's own error messages).
 */
export function withOpenApiSchema<T extends ZodTypeAny>(schema: T, documented: ZodTypeAny): T {
  documentedAs.set(schema._def, documented);
  return schema;
}

/**
 * OpenAPI schemas generated from the zod schemas that validate requests (src/<resource>/<resource>.dto.ts),
 * so the documentation cannot drift from validation. Refinements (cross-field rules) are not expressible
 * in JSON Schema; the field descriptions say what they check.
 */
export function openApiSchema(schema: ZodTypeAny): SchemaObject {
  // The cast avoids zod-to-json-schema's deep generic instantiation on large schemas.
  const convert = zodToJsonSchema as (schema: unknown, options: object) => Record<string, unknown>;
  const { $schema: _ignored, ...json } = convert(schema, {
    target: 'openApi3',
    $refStrategy: 'none',
    override: (def: object) => {
      const documented = documentedAs.get(def);
      return documented ? openApiSchema(documented) : ignoreOverride;
    },
  });
  return json as SchemaObject;
}

export type Examples = Record<string, { summary?: string; value: unknown }>;

/** JSON request body validated by `schema`, with named examples. */
export function ApiZodBody(schema: ZodTypeAny, options: { description?: string; examples?: Examples } = {}) {
  return ApiBody({
    schema: openApiSchema(schema),
    description: options.description,
    examples: options.examples as ExamplesObject | undefined,
    required: true,
  });
}

/** One query parameter per property of a zod object schema. */
export function ApiZodQuery(schema: ZodTypeAny) {
  const json = openApiSchema(schema);
  const required = new Set(json.required ?? []);
  const properties = (json.properties ?? {}) as Record<string, SchemaObject>;
  return applyDecorators(
    ...Object.entries(properties).map(([name, property]) =>
      ApiQuery({ name, required: required.has(name), schema: property, description: property.description }),
    ),
  );
}

export interface MultipartField {
  description?: string;
  /** A JSON document sent as a form field (string), validated by this schema. */
  json?: ZodTypeAny;
  /** A file part; `many` for a repeated part. */
  file?: { many?: boolean };
  required?: boolean;
  example?: unknown;
}

/** multipart/form-data body: file parts and JSON-document fields (documented with their zod schema). */
export function ApiMultipartBody(fields: Record<string, MultipartField>, description?: string) {
  const properties: Record<string, SchemaObject> = {};
  for (const [name, field] of Object.entries(fields)) {
    if (field.file) {
      const binary: SchemaObject = { type: 'string', format: 'binary' };
      properties[name] = field.file.many
        ? { type: 'array', items: binary, description: field.description }
        : { ...binary, description: field.description };
    } else {
      const jsonSchema = field.json ? openApiSchema(field.json) : undefined;
      properties[name] = {
        type: 'string',
        description: [field.description, jsonSchema ? `A JSON document: ${JSON.stringify(jsonSchema)}` : undefined]
          .filter(Boolean)
          .join('\n\n'),
        ...(field.example !== undefined
          ? { example: typeof field.example === 'string' ? field.example : JSON.stringify(field.example) }
          : {}),
      };
    }
  }
  const required = Object.entries(fields)
    .filter(([, field]) => field.required !== false)
    .map(([name]) => name);
  return applyDecorators(
    ApiConsumes('multipart/form-data'),
    ApiBody({ description, schema: { type: 'object', properties, required } }),
  );
}
