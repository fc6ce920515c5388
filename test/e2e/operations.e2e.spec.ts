import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Logger } from '@nestjs/common';
import type { Client } from '@temporalio/client';
import { demoModelMetadata } from '../../scripts/demo-model';
import { setLogDestination } from '../../src/platform/logging/logger';
import { TEMPORAL_CLIENT } from '../../src/api/temporal.module';
import { ApiClient, type ApiResponse } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff } from '../support/python';
import { routeAccess } from '../../src/api/auth/route-access';
import { expressRoutes, nestRoutes } from '../support/routes';
import { demoModelPaths, requiredEnv } from '../support/services';
import { startTestStack, USERS, type TestStack } from '../support/stack';
import { hostPort, startTcpProxy } from '../support/tcp-proxy';
import { startWebhookReceiver } from '../support/webhook-receiver';
import { InferencesRepository } from '../../src/platform/database/repositories';
import { PipelineClient } from '../../src/pipeline/client';
import { workflowInput } from '../../src/api/inferences/workflow-input';
import { taskId } from '../../src/api/inferences/task-inputs';
import { planSteps } from '../../workflows/contract/steps';
import type { TaskPlan } from '../../workflows/contract/types';

const WEBHOOK_SECRET = `whsec_${Buffer.from('operations-test-secret-0123456789').toString('base64')}`;

/** Value of one sample of a Prometheus text exposition (0 when the series does not exist yet). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => have[key] === value)) {
      total += Number(match[4]);
      found = true;
    }
  }
  return found ? total : 0;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Operating the service: health/readiness, task-queue status, Prometheus metrics, JSON activity logs and
 * the OpenAPI document, against the real PostgreSQL, MinIO and Temporal dev server.
 */
describe('operations endpoints (real services, in-process worker)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let workDir: string;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  const logLines: string[] = [];

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-ops-'));
    await makeSampleGeoTiff(path.join(workDir, 'sample.tif'), 256, 3);
    fixtures = await startFixtureServer(workDir);
    receiver = await startWebhookReceiver([200]);
    // Activity and request log lines (LOG_LEVEL=log below) go to this array instead of stdout.
    setLogDestination({ write: (line: string) => void logLines.push(line) }, 'log');
    const queue = `ops-${Date.now().toString(36)}`;
    stack = await startTestStack({
      storage: 'minio',
      env: {
        TEMPORAL_TASK_QUEUE: queue,
        TEMPORAL_MODEL_TASK_QUEUE: `${queue}-model`,
        LOG_LEVEL: 'log',
        WEBHOOK_SECRET,
      },
    });
    api = new ApiClient(stack.baseUrl);
  });

  afterAll(async () => {
    await stack?.stop();
    setLogDestination(undefined);
    await fixtures?.close();
    await receiver?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  describe('health', () => {
    it('answers liveness and readiness without a key, with each component and its latency', async () => {
      const anonymous = api.as(undefined);
      const live = await anonymous.get('/api/health/live');
      expect(live.status).toBe(200);
      expect(live.body).toMatchObject({ status: 'ok' });
      for (const route of ['/api/health', '/api/health/ready']) {
        const ready = await anonymous.get(route);
        expect(ready.status).toBe(200);
        expect(ready.body.status).toBe('ok');
        for (const component of ['database', 'temporal', 'object_storage']) {
          expect(ready.body.checks[component]).toMatchObject({ status: 'up', latency_ms: expect.any(Number) });
        }
      }
    });
  });

  describe('queue status', () => {
    it('needs the API key', async () => {
      expect((await api.as(undefined).get('/api/queues/status')).status).toBe(401);
      expect((await api.as('wrong-key').get('/api/queues/status')).status).toBe(401);
    });

    it('lists every configured task queue with the worker pollers and the backlog', async () => {
      const body = await until('pollers on both queues', async () => {
        const response = await api.get('/api/queues/status');
        expect(response.status).toBe(200);
        const queues = response.body.queues as Array<{ name: string; types: Record<string, { pollers: unknown[] }> }>;
        const polled =
          queues.length === 2 &&
          queues.every((queue) => Object.values(queue.types).every((type) => type.pollers.length > 0));
        return polled ? response.body : undefined;
      });
      expect(body.namespace).toBe('default');
      const main = body.queues.find((queue: { name: string }) => queue.name === stack.taskQueue);
      const model = body.queues.find((queue: { name: string }) => queue.name === `${stack.taskQueue}-model`);
      expect(main).toMatchObject({ roles: ['workflows', 'fetch', 'processor'], config_vars: ['TEMPORAL_TASK_QUEUE'] });
      expect(model).toMatchObject({ roles: ['model'], config_vars: ['TEMPORAL_MODEL_TASK_QUEUE'] });
      expect(Object.keys(main.types)).toEqual(['workflow', 'activity']);
      expect(Object.keys(model.types)).toEqual(['activity']);
      const poller = main.types.workflow.pollers[0];
      expect(poller.identity).toMatch(/\S/);
      expect(Date.now() - Date.parse(poller.last_access_time)).toBeLessThan(120_000);
      // The dev server (1.29) reports task queue stats.
      expect(main.types.workflow.backlog).toMatchObject({
        supported: true,
        approximate_backlog_count: expect.any(Number),
      });
    });

    it('shows a backlog when work waits on a queue without workers', async () => {
      await stack.stopWorker();
      const client = stack.app.get<Client>(TEMPORAL_CLIENT);
      const handle = await client.workflow.start('inferenceWorkflow', {
        taskQueue: stack.taskQueue,
        workflowId: `ops-backlog-${Date.now()}`,
        args: [],
      });
      try {
        const backlog = await until('a workflow task in the backlog', async () => {
          const response = await api.get('/api/queues/status');
          const main = response.body.queues.find((queue: { name: string }) => queue.name === stack.taskQueue);
          const value = main.types.workflow.backlog;
          return value.approximate_backlog_count >= 1 ? value : undefined;
        });
        expect(backlog.supported).toBe(true);
      } finally {
        await handle.terminate('test cleanup');
        await stack.startWorker();
      }
    });
  });

  describe('metrics and logs', () => {
    let modelId: string;

    beforeAll(async () => {
      const { model, meta } = demoModelPaths();
      const registered = await api.registerModel(demoModelMetadata(meta, `csmask-ops-${Date.now()}`), model);
      expect(registered.status).toBe(201);
      modelId = registered.body.id;
    });

    it('serves Prometheus metrics whose counters move when inferences run', async () => {
      const before = (await api.as(undefined).get('/metrics')).text;
      const ok = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('sample.tif')] },
        temporal_domain: [],
        webhook_url: receiver.url,
      });
      expect(ok.status).toBe(201);
      const bad = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('status/404')] },
        temporal_domain: [],
      });
      expect(bad.status).toBe(201);
      expect(await api.waitForInference(ok.body.id)).toMatchObject({ status: 'COMPLETED' });
      expect(await api.waitForInference(bad.body.id)).toMatchObject({ status: 'FAILED' });
      await until('the webhook delivery', async () => (receiver.received.length > 0 ? true : undefined));

      const response = await api.as(undefined).get('/metrics');
      expect(response.status).toBe(200);
      const after = response.text;
      const moved = (name: string, labels: Record<string, string> = {}) =>
        sample(after, name, labels) - sample(before, name, labels);

      expect(moved('geo_http_requests_total', { method: 'POST', route: '/api/v2/inference', status: '201' })).toBe(2);
      expect(
        moved('geo_http_request_duration_seconds_count', {
          method: 'GET',
          route: '/api/v2/inference/:id',
          status: '200',
        }),
      ).toBeGreaterThanOrEqual(2);
      for (const step of ['terrakit-data-fetch', 'model-inference', 'push-to-geoserver']) {
        expect(moved('geo_steps_processed_total', { step, status: 'FINISHED' })).toBe(1);
        expect(moved('geo_step_duration_seconds_count', { step, status: 'FINISHED' })).toBe(1);
      }
      expect(moved('geo_step_duration_seconds_sum', { step: 'model-inference', status: 'FINISHED' })).toBeGreaterThan(
        0,
      );
      expect(moved('geo_steps_processed_total', { step: 'terrakit-data-fetch', status: 'FAILED' })).toBe(1);
      expect(moved('geo_step_errors_total', { step: 'terrakit-data-fetch' })).toBe(1);
      expect(moved('geo_tasks_processed_total', { status: 'FINISHED' })).toBe(1);
      expect(moved('geo_tasks_processed_total', { status: 'FAILED' })).toBe(1);
      expect(moved('geo_webhook_attempts_total', { outcome: 'delivered' })).toBe(1);
      // Read from the database at scrape time.
      const completed = Number(
        (await stack.dataSource.query(`SELECT count(*) AS n FROM inferences WHERE status = 'COMPLETED'`))[0].n,
      );
      expect(sample(after, 'geo_inferences', { status: 'COMPLETED' })).toBe(completed);
      expect(sample(after, 'geo_process_cpu_seconds_total')).toBeGreaterThan(0);
    });

    it('writes JSON activity logs with inference id, task id and step on every line', async () => {
      const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
      const activityLines = entries.filter((entry) => typeof entry.activity === 'string');
      expect(activityLines.length).toBeGreaterThan(0);
      for (const entry of activityLines) {
        expect(entry).toMatchObject({
          inference_id: expect.any(String),
          step: expect.any(String),
          workflow_id: expect.any(String),
          attempt: expect.any(Number),
          level: expect.any(String),
          time: expect.any(String),
        });
      }
      const modelRun = activityLines.find(
        (entry) => entry.activity === 'runModelInference' && entry.msg === 'activity completed',
      );
      expect(modelRun).toMatchObject({
        step: 'model-inference',
        task_id: expect.stringMatching(/-task-\d{3,}$/),
        duration_ms: expect.any(Number),
        level: 'info',
      });
      const failedFetch = activityLines.find(
        (entry) => entry.activity === 'fetchTaskInput' && entry.msg === 'activity failed',
      );
      expect(failedFetch).toMatchObject({ step: 'terrakit-data-fetch', level: 'warn' });
    });
  });

  describe('API request logs', () => {
    it('logs each request as JSON with a request id, URL and status, never the API key', async () => {
      logLines.length = 0;
      const headers = { Authorization: `Bearer ${USERS.alice.key}`, 'X-Request-Id': 'req-ops-1' };
      expect((await fetch(`${stack.baseUrl}/api/v2/models?limit=1`, { headers })).status).toBe(200);
      expect(
        (await fetch(`${stack.baseUrl}/api/v2/models?limit=0`, { headers: { Authorization: headers.Authorization } }))
          .status,
      ).toBe(400);
      const entries = logLines.map((line) => JSON.parse(line) as Record<string, any>).filter((entry) => entry.req);
      expect(entries[0]).toMatchObject({
        level: 'info',
        req: { id: 'req-ops-1', method: 'GET', url: '/api/v2/models?limit=1' },
        res: { statusCode: 200 },
        responseTime: expect.any(Number),
      });
      expect(entries[1]).toMatchObject({
        level: 'info',
        req: { id: expect.any(String), url: '/api/v2/models?limit=0' },
        res: { statusCode: 400 },
      });
      expect(logLines.join('\n')).not.toContain(USERS.alice.key);
    });

    it('logs a body refused as too large (413) with its request id and URL', async () => {
      logLines.length = 0;
      const response = await fetch(`${stack.baseUrl}/api/v2/inference?trace=big`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${USERS.alice.key}`,
          'Content-Type': 'application/json',
          'X-Request-Id': 'req-ops-413',
        },
        body: JSON.stringify({ description: 'x'.repeat(6 * 1024 * 1024) }),
      });
      expect(response.status).toBe(413);
      const entry = logLines
        .map((line) => JSON.parse(line) as Record<string, any>)
        .find((line) => /^413 /.test(String(line.msg)));
      expect(entry).toMatchObject({ level: 'warn' });
      expect(entry!.msg).toContain('POST /api/v2/inference?trace=big');
      expect(entry!.msg).toContain('req-ops-413');
    });
  });

  describe('OpenAPI', () => {
    it('documents every route registered in the app, with bearer auth on the key-protected ones', async () => {
      const response = await api.as(undefined).get('/docs-json');
      expect(response.status).toBe(200);
      const document = response.body;
      expect(document.openapi).toMatch(/^3\./);
      expect(document.components.securitySchemes['api-key']).toMatchObject({ type: 'http', scheme: 'bearer' });

      const routes = nestRoutes(stack.app);
      // The enumeration sees the app's routes (so a new controller's routes are checked too), and each is really served.
      expect(routes).toEqual(
        expect.arrayContaining([
          { method: 'post', path: '/api/v2/inference' },
          { method: 'get', path: '/api/health/ready' },
          { method: 'get', path: '/metrics' },
          { method: 'delete', path: '/api/v2/generic-processor/{id}' },
        ]),
      );
      const served = new Set(expressRoutes(stack.app).map((route) => `${route.method} ${route.path}`));
      expect(routes.filter((route) => !served.has(`${route.method} ${route.path}`))).toEqual([]);
      const missing = routes.filter((route) => !document.paths[route.path]?.[route.method]);
      expect(missing).toEqual([]);

      // Documented security follows the guard's own metadata: the key everywhere but on @Public() routes.
      const credentials = new Map(
        routeAccess(stack.app).map((route) => [`${route.method} ${route.path}`, route.publicCredential]),
      );
      for (const [routePath, item] of Object.entries(
        document.paths as Record<string, Record<string, { security?: unknown; tags?: string[] }>>,
      )) {
        for (const [method, operation] of Object.entries(item)) {
          // A key, or (the events stream) a key or a token of its own: bearer auth documented either way.
          const credential = credentials.get(`${method} ${routePath}`);
          const takesKey = credential === undefined || credential === 'api-key-or-events-token';
          expect([routePath, operation.security ?? null]).toEqual([routePath, takesKey ? [{ 'api-key': [] }] : null]);
          expect(operation.tags?.length).toBeGreaterThan(0);
        }
      }
    });

    it('gives every operation a 2xx answer with a real schema, and every path parameter its declaration', async () => {
      const document = (await api.as(undefined).get('/docs-json')).body;
      const resolve = (schema: { $ref?: string }) =>
        schema.$ref ? document.components.schemas[schema.$ref.replace('#/components/schemas/', '')] : schema;
      const problems: string[] = [];
      for (const [routePath, item] of Object.entries(document.paths as Record<string, Record<string, any>>)) {
        for (const [method, operation] of Object.entries(item)) {
          const where = `${method.toUpperCase()} ${routePath}`;
          const ok = Object.entries(operation.responses as Record<string, any>).filter(([code]) => /^2/.test(code));
          if (ok.length === 0) problems.push(`${where}: no 2xx answer`);
          for (const [code, response] of ok) {
            if (code === '204') continue;
            const media = Object.entries((response.content ?? {}) as Record<string, { schema?: any }>);
            if (media.length === 0) problems.push(`${where} ${code}: no content`);
            for (const [type, { schema }] of media) {
              const resolved = schema && resolve(schema);
              if (!resolved?.type) problems.push(`${where} ${code} ${type}: no schema`);
              else if (type === 'application/json' && resolved.type === 'object' && !resolved.properties)
                problems.push(`${where} ${code}: an object schema without properties`);
            }
          }
          const declared = new Set(
            (operation.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name),
          );
          for (const [, name] of routePath.matchAll(/\{([^}]+)\}/g))
            if (!declared.has(name)) problems.push(`${where}: path parameter ${name} not declared`);
          for (const parameter of operation.parameters ?? [])
            if (parameter.in === 'path' && parameter.name === 'id' && parameter.schema?.format !== 'uuid')
              problems.push(`${where}: {id} is not declared as a UUID`);
        }
      }
      expect(problems).toEqual([]);
      expect(document.paths['/files/{path}'].get.parameters).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'path', in: 'path', required: true })]),
      );
      expect(document.components.schemas.Inference.required).toEqual(
        expect.arrayContaining(['id', 'status', 'tasks_count_total', 'temporal_ui_url', 'created_by']),
      );
    });

    it('generates request schemas from the zod DTOs, with the contract examples', async () => {
      const document = (await api.as(undefined).get('/docs-json')).body;
      const create = document.paths['/api/v2/inference'].post.requestBody.content['application/json'];
      // An entry is a URL, or a list of URLs (one time series task).
      expect(create.schema.properties.spatial_domain.properties.urls.items.anyOf).toEqual([
        expect.objectContaining({ type: 'string', format: 'uri' }),
        expect.objectContaining({ type: 'array', items: expect.objectContaining({ type: 'string', format: 'uri' }) }),
      ]);
      expect(create.schema.properties.temporal_domain).toMatchObject({ type: 'array', maxItems: 366 });
      expect(create.examples.basic.value).toMatchObject({
        model_display_name: 'flood-detection-model',
        spatial_domain: { bbox: [[16.2, 48.1, 16.5, 48.3]] },
      });
      const model = document.paths['/api/v2/models'].post.requestBody.content['multipart/form-data'].schema;
      expect(model.properties.model_file).toMatchObject({ type: 'string', format: 'binary' });
      expect(model.required).toEqual(expect.arrayContaining(['model_file', 'model']));
      const processor =
        document.paths['/api/v2/generic-processor'].post.requestBody.content['multipart/form-data'].schema;
      expect(processor.properties.generic_processor_file).toMatchObject({ type: 'string', format: 'binary' });
      expect(JSON.parse(processor.properties.generic_processor.example)).toMatchObject({
        name: 'cloud_masking',
        processor_parameters: { threshold: 80 },
      });
      const list = document.paths['/api/v2/inference'].get.parameters.map(
        (parameter: { name: string; in: string }) => `${parameter.in}:${parameter.name}`,
      );
      expect(list).toEqual(expect.arrayContaining(['query:limit', 'query:offset', 'query:status', 'query:model_id']));
      const docs = await fetch(`${stack.baseUrl}/docs`);
      expect(docs.status).toBe(200);
      expect(await docs.text()).toMatch(/swagger-ui/i);
    });
  });
});

/** Readiness when a dependency goes away: storage and Temporal reached through proxies the test closes. */
describe('readiness with a component down', () => {
  let stack: TestStack;
  let api: ApiClient;
  let storageProxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let temporalProxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let databaseProxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let keyed: ApiClient;
  let modelId: string;

  beforeAll(async () => {
    storageProxy = await startTcpProxy(hostPort(requiredEnv('MINIO_ENDPOINT')));
    temporalProxy = await startTcpProxy(hostPort(requiredEnv('TEMPORAL_ADDRESS')));
    const databaseUrl = new URL(requiredEnv('DATABASE_URL'));
    databaseProxy = await startTcpProxy({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) });
    databaseUrl.host = databaseProxy.address;
    stack = await startTestStack({
      storage: 'minio',
      worker: false,
      env: {
        MINIO_ENDPOINT: `http://${storageProxy.address}`,
        TEMPORAL_ADDRESS: temporalProxy.address,
        DATABASE_URL: databaseUrl.toString(),
        TEMPORAL_START_TIMEOUT_MS: '2000',
      },
    });
    api = new ApiClient(stack.baseUrl, null);
    keyed = new ApiClient(stack.baseUrl);
    const registered = await keyed.registerModel(
      demoModelMetadata(demoModelPaths().meta, `csmask-outage-${Date.now()}`),
      demoModelPaths().model,
    );
    expect(registered.status).toBe(201);
    modelId = registered.body.id;
  });

  afterAll(async () => {
    await storageProxy?.open().catch(() => undefined);
    await temporalProxy?.open().catch(() => undefined);
    await databaseProxy?.open().catch(() => undefined);
    await stack?.stop();
    await storageProxy?.close();
    await temporalProxy?.close();
    await databaseProxy?.close();
  });

  it('answers 503 naming object storage when it is unreachable, and 200 again once it is back', async () => {
    expect((await api.get('/api/health/ready')).status).toBe(200);
    await storageProxy.close();
    const down = await api.get('/api/health/ready');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ statusCode: 503, status: 'unavailable', down: ['object_storage'] });
    expect(down.body.message).toMatch(/object_storage down/);
    expect(down.body.checks.object_storage).toMatchObject({
      status: 'down',
      error: expect.stringMatching(/\S/),
      latency_ms: expect.any(Number),
    });
    expect(down.body.checks.database.status).toBe('up');
    expect(down.body.checks.temporal.status).toBe('up');
    expect((await api.get('/api/health')).status).toBe(503);
    // Liveness does not depend on the components.
    expect((await api.get('/api/health/live')).status).toBe(200);

    await storageProxy.open();
    expect((await api.get('/api/health/ready')).status).toBe(200);
  });

  it('answers 503 naming the database when PostgreSQL is unreachable', async () => {
    const known = await keyed.get('/api/v2/inference');
    expect(known.status).toBe(200);
    const warnings = jest.spyOn(Logger.prototype, 'warn');
    const errors = jest.spyOn(Logger.prototype, 'error');
    try {
      await databaseProxy.close();
      const down = await api.get('/api/health/ready');
      expect(down.status).toBe(503);
      expect(down.body.down).toEqual(['database']);
      expect(down.body.checks.database).toMatchObject({ status: 'down', error: expect.stringMatching(/\S/) });

      // The API's own routes: 503 naming the database with Retry-After (a client retries), never a 500.
      const someId = '00000000-0000-4000-8000-000000000000';
      const requests: Array<[string, () => Promise<ApiResponse>]> = [
        ['GET one', () => keyed.get(`/api/v2/inference/${someId}`)],
        ['GET list', () => keyed.get('/api/v2/inference')],
        [
          'POST',
          () =>
            keyed.post('/api/v2/inference', {
              model_id: modelId,
              spatial_domain: { urls: ['http://127.0.0.1:9/x.tif'] },
              temporal_domain: [],
            }),
        ],
      ];
      for (const [what, send] of requests) {
        const started = Date.now();
        const response = await send();
        expect([what, response.status]).toEqual([what, 503]);
        expect(Date.now() - started).toBeLessThan(6000);
        expect(response.headers.get('retry-after')).toBe('5');
        expect(response.body).toMatchObject({
          statusCode: 503,
          error: 'Service Unavailable',
          message: expect.stringMatching(/^the database is unavailable/),
          details: { dependency: 'database' },
        });
      }
      // Logged as warnings naming the route, without a stack; nothing logged as an unexpected error.
      const lines = warnings.mock.calls.map((call) => String(call[0])).filter((line) => line.includes(': 503 '));
      expect(lines.length).toBeGreaterThanOrEqual(3);
      for (const line of lines) expect(line).not.toMatch(/\n\s+at /);
      expect(errors.mock.calls.filter((call) => String(call[0]).includes('\n    at '))).toEqual([]);
    } finally {
      warnings.mockRestore();
      errors.mockRestore();
      await databaseProxy.open();
    }
    const back = await until('the database back', async () => {
      const response = await api.get('/api/health/ready');
      return response.status === 200 ? response : undefined;
    });
    expect(back.body.checks.database.status).toBe('up');
    // Recovered by itself: the same requests succeed again without a restart.
    const list = await until('the inference list back', async () => {
      const response = await keyed.get('/api/v2/inference');
      return response.status === 200 ? response : undefined;
    });
    expect(list.body.total_records).toBe(known.body.total_records);
  });

  it('answers 503 naming Temporal when the frontend is unreachable', async () => {
    const before = await keyed.get('/api/v2/inference');
    await temporalProxy.close();
    const down = await api.get('/api/health/ready');
    expect(down.status).toBe(503);
    expect(down.body.down).toEqual(['temporal']);
    expect(down.body.checks.temporal).toMatchObject({ status: 'down', error: expect.stringMatching(/\S/) });

    // Creating an inference fails fast (TEMPORAL_START_TIMEOUT_MS=2000 here) with a clear 503, and leaves nothing.
    const started = Date.now();
    const created = await keyed.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: ['http://127.0.0.1:9/x.tif'] },
      temporal_domain: [],
    });
    const elapsed = Date.now() - started;
    expect(created.status).toBe(503);
    expect(elapsed).toBeLessThan(5000);
    expect(created.headers.get('retry-after')).toBe('5');
    expect(created.body.message).toMatch(/workflow service is unavailable, inference not created/);
    const after = await keyed.get('/api/v2/inference');
    expect(after.body.total_records).toBe(before.body.total_records);
  });

  it('starts the workflow of an inference accepted just before Temporal went down once it is back (outbox)', async () => {
    // Temporal is still down (the test above). The inference, its tasks and its outbox row as a POST commits them
    // just before an outage (or an API process dies): the workflow start is owed, nothing has started it.
    const id = randomUUID();
    const steps = planSteps({ genericProcessor: false });
    const plans: TaskPlan[] = [
      { task_id: taskId(id, 0), task_index: 0, input: { kind: 'url', url: 'http://127.0.0.1:9/x.tif' } },
    ];
    const input = workflowInput(stack.config, { inferenceId: id, modelId, tasks: plans, steps });
    await stack.app.get(InferencesRepository).createWithTasks(
      {
        id,
        modelId,
        modelDisplayName: 'outbox',
        description: null,
        location: null,
        spatialDomain: { urls: ['http://127.0.0.1:9/x.tif'] },
        temporalDomain: [],
        maxcc: null,
        fineTuningId: null,
        chipSize: null,
        genericProcessorId: null,
        postProcessing: null,
        status: 'PENDING',
        statusMessage: null,
        workflowId: id,
        createdBy: USERS.alice.email,
        startedAt: null,
        finishedAt: null,
        webhookUrl: null,
        webhookSecret: null,
      },
      [
        {
          taskId: plans[0].task_id,
          inferenceId: id,
          taskIndex: 0,
          input: plans[0].input,
          status: 'WAITING',
          pipelineSteps: steps.map((processId, stepNumber) => ({
            process_id: processId,
            step_number: stepNumber,
            status: 'WAITING' as const,
          })),
          outputKey: null,
          outputs: null,
          statusMessage: null,
        },
      ],
      { input, createdBy: USERS.alice.email, leaseMs: 0 },
    );
    const owed = async () =>
      (
        (await stack.dataSource.query(`SELECT attempts FROM workflow_starts WHERE inference_id = $1`, [id])) as Array<{
          attempts: number;
        }>
      )[0];
    // While Temporal is down the start stays owed (tried and backed off) and the inference reads PENDING.
    await until('a failed start attempt', async () => ((await owed())?.attempts ?? 0) >= 1 || undefined, 15_000);
    const pending = await keyed.get(`/api/v2/inference/${id}`);
    expect([pending.status, pending.body.status]).toEqual([200, 'PENDING']);

    await temporalProxy.open();
    const back = Date.now();
    await until('the owed start paid', async () => ((await owed()) === undefined ? true : undefined), 30_000);
    const seconds = (Date.now() - back) / 1000;
    expect(seconds).toBeLessThan(20);
    const description = await stack.app.get<Client>(TEMPORAL_CLIENT).workflow.getHandle(id).describe();
    expect(description.status.name).toBe('RUNNING');
    // A second start of the same id (a repeated outbox row) is refused by Temporal and counts as done.
    await expect(
      stack.app.get(PipelineClient).startOnce({ workflowId: id, input, createdBy: USERS.alice.email }),
    ).resolves.toBe('already started');
    await stack.app.get<Client>(TEMPORAL_CLIENT).workflow.getHandle(id).terminate('test done');
    // Its task fails (nothing listens at that URL): deleted, so alice's listings in later specs stay as they expect.
    expect((await keyed.request('DELETE', `/api/v2/inference/${id}`)).status).toBeLessThan(300);
  });
});
