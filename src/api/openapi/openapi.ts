import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { OperationObject, PathItemObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { operationIdOf, routeAccess } from '../auth/route-access';
import { RESPONSE_SCHEMAS } from './response-schemas';

export const API_KEY_SCHEME = 'api-key';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'] as const;

/** Error body of every failed request (src/api/http/api-error.ts). */
const errorSchema = {
  type: 'object',
  required: ['statusCode', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer', example: 400 },
    error: { type: 'string', example: 'Bad Request' },
    message: { type: 'string', example: 'spatial_domain.urls.0: must be an http(s) URL' },
    field: {
      type: 'string',
      description: 'dotted path of the offending request field',
      example: 'spatial_domain.urls.0',
    },
    details: {},
  },
};

/**
 * The OpenAPI document of every route of the app. @nestjs/swagger lists every controller route by itself;
 * this adds what applies to every route so a new controller needs no boilerplate: bearer auth and the 401
 * answer on routes behind the API key (the @Public() metadata ApiKeyGuard reads), the error body on every 4xx, and a tag from
 * the path when the controller has none. Bodies, query schemas and examples come from decorators on the
 * handlers (src/api/openapi/zod-openapi.ts).
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('geo-inference API')
    .setDescription(
      'Durable geospatial ML inference on Temporal, following the GEOStudio Core inference contract (/api/v2). ' +
        'Every route needs `Authorization: Bearer <api key>` except health, metrics, docs, and the signed-URL and tile-token routes. Errors are `{ statusCode, error, message, field }`.',
    )
    .setVersion(process.env.npm_package_version ?? '0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'an API key from API_KEYS' }, API_KEY_SCHEME)
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: operationIdOf,
  });
  const keyed = new Set(
    routeAccess(app)
      .filter((route) => route.publicCredential === undefined)
      .map((route) => route.operationId),
  );
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, ...RESPONSE_SCHEMAS, ApiError: errorSchema as never },
  };
  document.paths = withWildcardParameters(document.paths);
  for (const [path, item] of Object.entries(document.paths) as Array<[string, PathItemObject]>) {
    for (const method of METHODS) {
      const operation = item[method] as OperationObject | undefined;
      if (!operation) continue;
      operation.responses ??= {};
      declareUuidIds(operation);
      if (operation.operationId && keyed.has(operation.operationId)) {
        operation.security = [{ [API_KEY_SCHEME]: [] }];
        operation.responses['401'] ??= {
          description: 'missing or invalid API key',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/ApiError' } } },
        };
      }
      operation.responses['4XX'] ??= {
        description: 'bad request: the message and `field` name the problem',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/ApiError' } } },
      };
      if (!operation.tags?.length)
        operation.tags = [/^\/api\/v2\/([^/]+)/.exec(path)?.[1] ?? path.split('/')[1] ?? 'default'];
    }
  }
  return document;
}

/** Every `{id}` path parameter is an inference, model or processor id: the handlers' UUID pipes refuse others. */
function declareUuidIds(operation: OperationObject): void {
  for (const parameter of operation.parameters ?? []) {
    if ('in' in parameter && parameter.in === 'path' && parameter.name === 'id') {
      parameter.schema = { type: 'string', format: 'uuid' };
      parameter.required = true;
    }
  }
}

/**
 * Every `{name}` of a path template declared as a path parameter: @nestjs/swagger turns Express wildcards
 * (`/files/*path`) and some route parameters into templates without declaring them. An undeclared one is a
 * string (for a wildcard: the rest of the path, slashes included).
 */
function withWildcardParameters(paths: OpenAPIObject['paths']): OpenAPIObject['paths'] {
  const result: OpenAPIObject['paths'] = {};
  for (const [rawPath, item] of Object.entries(paths)) {
    const path = rawPath.replace(/\/\*([A-Za-z_][A-Za-z0-9_]*)/g, '/{$1}');
    const names = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
    for (const method of METHODS) {
      const operation = item[method] as OperationObject | undefined;
      if (!operation) continue;
      const declared = new Set(
        (operation.parameters ?? []).flatMap((parameter) =>
          'in' in parameter && parameter.in === 'path' ? [parameter.name] : [],
        ),
      );
      const missing = names.filter((name) => !declared.has(name));
      operation.parameters = [
        ...missing.map((name) => ({
          name,
          in: 'path' as const,
          required: true,
          description: /\/\*/.test(rawPath) || name === 'path' ? 'the rest of the path, slashes included' : undefined,
          schema: { type: 'string' as const },
        })),
        ...(operation.parameters ?? []),
      ];
    }
    result[path] = item;
  }
  return result;
}

/** Swagger UI at /docs and the JSON document at /docs-json (no API key: the docs are public). */
export function setupOpenApi(app: INestApplication): void {
  // Built on first request (all routes are registered by then) and kept: routes do not change at run time.
  let document: OpenAPIObject | undefined;
  SwaggerModule.setup('docs', app, () => (document ??= buildOpenApiDocument(app)), {
    jsonDocumentUrl: 'docs-json',
    customSiteTitle: 'geo-inference API',
  });
}
