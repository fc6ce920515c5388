import type { INestApplication } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger as PinoNestLogger, LoggerModule } from 'nestjs-pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { AppModule } from './api/app.module';
import { requestSpanMiddleware } from './platform/tracing/tracing';
import express from 'express';
import {
  AllExceptionsFilter,
  bodyParserErrorAsApiError,
  type DependencyEndpoint,
} from './api/http/all-exceptions.filter';
import { routedMethods } from './api/http/routed-methods';
import { rejectNulCharactersPipe } from './api/http/zod-validation';
import { APP_CONFIG } from './api/config.module';
import { canonicalPathMiddleware } from './api/http/canonical-path';
import { loadConfig, type AppConfig } from './platform/config/config';
import { configureLogging, pinoLevelOfNestLevels, type AppLogLevel } from './platform/logging/logger';
import { httpMetricsMiddleware } from './api/metrics/metrics.module';
import { setupOpenApi } from './api/openapi/openapi';

type NestLevels = false | Array<'error' | 'warn' | 'log' | 'debug' | 'verbose'>;

/** Routes probed every few seconds: not worth a log line each at info. */
const QUIET_ROUTES = /^\/(metrics|api\/health\/live)(\?|$)/;

/**
 * JSON request logs (pino-http) and Nest's own logs through the same pino root logger, at LOG_LEVEL
 * (`logger: false` silences the API). nestjs-pino keeps one request logger per process (the first app's),
 * so the level is not varied per app.
 */
function loggingModule(levels: NestLevels | undefined) {
  const root = configureLogging(loadConfig().LOG_LEVEL as AppLogLevel);
  const logger = levels === false ? root.child({}, { level: pinoLevelOfNestLevels(false) }) : root;
  return LoggerModule.forRoot({
    pinoHttp: {
      logger,
      genReqId: (request: IncomingMessage) =>
        typeof request.headers['x-request-id'] === 'string'
          ? request.headers['x-request-id'].slice(0, 100)
          : randomUUID(),
      autoLogging: { ignore: (request: IncomingMessage) => QUIET_ROUTES.test(request.url ?? '') },
      // 503 = not ready (a dependency is down, reported by /api/health): a warning, not a server bug.
      customLogLevel: (_request: IncomingMessage, response: ServerResponse, error?: Error) =>
        response.statusCode === 503 ? 'warn' : error || response.statusCode >= 500 ? 'error' : 'info',
      // Method, URL (signed-URL signatures and tile / events tokens blanked) and id only: headers carry API keys.
      serializers: {
        req: (request: { id: string; method: string; url: string }) => ({
          id: request.id,
          method: request.method,
          url: request.url.replace(/([?&](?:signature|token)=)[^&]*/g, '$1[redacted]'),
        }),
        res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
      },
    },
  });
}

/** Largest JSON (or form-encoded) request body; multipart uploads have their own limits. */
const JSON_BODY_LIMIT = '5mb';

/** A body parser whose errors (too large, not JSON) become API errors instead of Nest's generic mapping. */
function withApiErrors(parser: express.RequestHandler): express.RequestHandler {
  return (request, response, next) =>
    parser(request, response, (error?: unknown) => next(error ? bodyParserErrorAsApiError(error) : undefined));
}

/** The ports of PostgreSQL and object storage, so a refused connection in a request names its dependency. */
function dependencyEndpoints(config: AppConfig): DependencyEndpoint[] {
  const endpoints: DependencyEndpoint[] = [];
  const add = (name: string, url: string | undefined, defaultPort: number) => {
    if (!url) return;
    try {
      const parsed = new URL(url);
      endpoints.push({ name, port: Number(parsed.port || defaultPort) });
    } catch {
      /* validated elsewhere */
    }
  };
  add('database', config.DATABASE_URL, 5432);
  if (config.STORAGE_DRIVER === 'minio') add('object storage', config.MINIO_ENDPOINT, 9000);
  return endpoints;
}

/** Builds the HTTP API (no listen); shared by main.ts and the tests. Reads configuration from process.env. */
export async function createApiApp(options: { logger?: NestLevels } = {}): Promise<INestApplication> {
  @Module({ imports: [loggingModule(options.logger), AppModule] })
  class ApiRootModule {}
  // Body parsers are mounted below, so their errors reach the client in the API's error shape.
  const app = await NestFactory.create<NestExpressApplication>(ApiRootModule, { bufferLogs: true, bodyParser: false });
  app.useLogger(app.get(PinoNestLogger));
  app.disable('x-powered-by');
  app.use(canonicalPathMiddleware);
  app.use(httpMetricsMiddleware);
  // Request spans only when tracing is configured (OTEL_EXPORTER_OTLP_ENDPOINT).
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) app.use(requestSpanMiddleware);
  app.use(withApiErrors(express.json({ limit: JSON_BODY_LIMIT })));
  app.use(withApiErrors(express.urlencoded({ extended: true, limit: JSON_BODY_LIMIT })));
  app.useGlobalPipes(rejectNulCharactersPipe);
  const router = () => (app.getHttpAdapter().getInstance() as express.Express).router;
  app.useGlobalFilters(
    new AllExceptionsFilter({
      allowedMethods: (path) => routedMethods(router(), path),
      dependencies: dependencyEndpoints(app.get<AppConfig>(APP_CONFIG)),
    }),
  );
  setupOpenApi(app);
  app.enableShutdownHooks();
  return app;
}
