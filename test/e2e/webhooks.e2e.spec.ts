import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { demoModelPaths } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';
import { independentSignature, startWebhookReceiver } from '../support/webhook-receiver';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** Signed webhooks delivered by a durable, retried activity to a real HTTP receiver. */
describe('webhooks', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelId: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-webhooks-'));
    fs.writeFileSync(path.join(workDir, 'not-a-tiff.tif'), 'plain text\n');
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({
      storage: 'minio',
      env: { WEBHOOK_INITIAL_INTERVAL_SECONDS: '1', WEBHOOK_MAX_INTERVAL_SECONDS: '2', WEBHOOK_MAX_ATTEMPTS: '6' },
    });
    api = new ApiClient(stack.baseUrl);
    const registered = await api.registerModel(
      demoModelMetadata(demoModelPaths().meta, `csmask-webhooks-${Date.now()}`),
      demoModelPaths().model,
    );
    modelId = registered.body.id;
  });

  afterAll(async () => {
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  /** Waits until `count` attempts have their answer recorded (an attempt is listed PENDING while it is sent). */
  async function waitForDeliveries(id: string, count: number, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await api.get(`/api/v2/inference/${id}/webhook-deliveries`);
      const answered = (response.body.results ?? []).filter((row: { status: string }) => row.status !== 'PENDING');
      if (answered.length >= count) return response.body;
      if (Date.now() > deadline)
        throw new Error(`only ${response.body.total_records} webhook attempts after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it('retries with backoff until the receiver accepts, with the same id and a valid signature each time', async () => {
    const receiver = await startWebhookReceiver([500, 503, 204]);
    try {
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('not-a-tiff.tif')] },
        temporal_domain: [],
        webhook_url: receiver.url,
        webhook_secret: SECRET,
      });
      expect(created.status).toBe(201);
      expect(created.body.webhook_url).toBe(receiver.url);
      expect(JSON.stringify(created.body)).not.toContain(SECRET);
      const id = created.body.id;
      expect((await api.waitForInference(id)).status).toBe('FAILED');
      const deliveries = await waitForDeliveries(id, 3);
      expect(
        deliveries.results.map((row: { status_code: number; delivered: boolean; attempt: number; status: string }) => [
          row.attempt,
          row.status_code,
          row.delivered,
          row.status,
        ]),
      ).toEqual([
        [1, 500, false, 'FAILED'],
        [2, 503, false, 'FAILED'],
        [3, 204, true, 'DELIVERED'],
      ]);
      expect(deliveries.delivered).toBe(true);
      expect(deliveries.results[0].error).toBe('the receiver answered HTTP 500');

      expect(receiver.received).toHaveLength(3);
      const ids = new Set(receiver.received.map((request) => request.headers['webhook-id']));
      expect(ids.size).toBe(1);
      // Exponential backoff: the second gap is longer than the first.
      const [first, second, third] = receiver.received.map((request) => request.receivedAt);
      expect(second - first).toBeGreaterThanOrEqual(900);
      expect(third - second).toBeGreaterThan(second - first);
      for (const request of receiver.received) {
        const headers = {
          'webhook-id': String(request.headers['webhook-id']),
          'webhook-timestamp': String(request.headers['webhook-timestamp']),
          'webhook-signature': String(request.headers['webhook-signature']),
        };
        expect(headers['webhook-signature']).toBe(
          independentSignature(SECRET, headers['webhook-id'], headers['webhook-timestamp'], request.body),
        );
        expect(() => new Webhook(SECRET).verify(request.body, headers)).not.toThrow();
      }
      const event = JSON.parse(receiver.received[2].body);
      expect(event).toMatchObject({
        type: 'inference.failed',
        data: {
          inference_id: id,
          status: 'FAILED',
          tasks_count_total: 1,
          tasks_count_failed: 1,
          tasks: [{ task_id: `${id}-task-001`, status: 'FAILED', output_url: null }],
        },
      });
      expect(event.data.links.inference).toBe(`${stack.baseUrl}/api/v2/inference/${id}`);
      expect(event.data.tasks[0].message).toMatch(/not a readable GeoTIFF/);
    } finally {
      await receiver.close();
    }
  });

  it('stops retrying on 410 Gone, records the attempt, and leaves the inference status alone', async () => {
    const receiver = await startWebhookReceiver([410]);
    try {
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('not-a-tiff.tif')] },
        temporal_domain: [],
        webhook_url: receiver.url,
        webhook_secret: SECRET,
      });
      const id = created.body.id;
      await api.waitForInference(id);
      const deliveries = await waitForDeliveries(id, 1);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(receiver.received).toHaveLength(1);
      const after = await api.get(`/api/v2/inference/${id}/webhook-deliveries`);
      expect(after.body.results).toEqual([
        expect.objectContaining({
          attempt: 1,
          status_code: 410,
          delivered: false,
          status: 'REJECTED',
          error: 'the receiver answered 410 Gone: retries stopped',
        }),
      ]);
      expect(deliveries.delivered).toBe(false);
      expect((await api.get(`/api/v2/inference/${id}`)).body.status).toBe('FAILED');
    } finally {
      await receiver.close();
    }
  });

  it('keeps retrying across a worker restart', async () => {
    const receiver = await startWebhookReceiver([502, 200]);
    try {
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('not-a-tiff.tif')] },
        temporal_domain: [],
        webhook_url: receiver.url,
        webhook_secret: SECRET,
      });
      const id = created.body.id;
      await waitForDeliveries(id, 1);
      await stack.stopWorker();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(receiver.received).toHaveLength(1);
      await stack.startWorker();
      const deliveries = await waitForDeliveries(id, 2);
      expect(deliveries.delivered).toBe(true);
      expect(receiver.received.map((request) => request.answeredWith)).toEqual([502, 200]);
      expect(receiver.received[0].headers['webhook-id']).toBe(receiver.received[1].headers['webhook-id']);
    } finally {
      await receiver.close();
    }
  });

  it('refuses bad webhook settings up front', async () => {
    const base = { model_id: modelId, spatial_domain: { urls: [fixtures.url('not-a-tiff.tif')] }, temporal_domain: [] };
    const noSecret = await api.post('/api/v2/inference', { ...base, webhook_url: 'http://127.0.0.1:9/hook' });
    expect(noSecret.status).toBe(422);
    expect(noSecret.body.field).toBe('webhook_secret');
    const badUrl = await api.post('/api/v2/inference', { ...base, webhook_url: 'not a url', webhook_secret: SECRET });
    expect(badUrl.status).toBe(400);
    expect(badUrl.body.field).toBe('webhook_url');
    const badSecret = await api.post('/api/v2/inference', {
      ...base,
      webhook_url: 'http://127.0.0.1:9/hook',
      webhook_secret: 'hunter2',
    });
    expect(badSecret.status).toBe(400);
    expect(badSecret.body.field).toBe('webhook_secret');
  });
});

/**
 * The outbound address policy with production settings (private addresses refused, the one
 * trusted internal host is 127.0.0.2): webhooks and input URLs are refused at request time (422 naming the field, nothing
 * stored) and every connection the worker makes is checked again, redirect hops included; no step message
 * or log quotes a response or carries URL credentials.
 */
describe('outbound address policy when private addresses are disallowed', () => {
  let stack: TestStack;
  let api: ApiClient;
  let modelId: string;
  let internal: http.Server;
  let internalPort: number;
  const internalHits: string[] = [];

  beforeAll(async () => {
    // An "internal service" on every interface: its secret page, and a redirect into it (through the trusted 127.0.0.2).
    internal = http.createServer((request, response) => {
      internalHits.push(request.url ?? '');
      if (request.url?.startsWith('/redirect'))
        response.writeHead(302, { location: `http://127.0.0.1:${internalPort}/secret` }).end();
      else response.writeHead(200, { 'content-type': 'text/plain' }).end('INTERNAL-SECRET-PAGE');
    });
    await new Promise<void>((resolve) => internal.listen(0, resolve));
    internalPort = (internal.address() as AddressInfo).port;
    stack = await startTestStack({
      storage: 'minio',
      env: {
        WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'false',
        FETCH_ALLOW_PRIVATE_ADDRESSES: 'false',
        ALLOWED_INTERNAL_HOSTS: '127.0.0.2',
        WEBHOOK_SECRET: SECRET,
        LOG_LEVEL: 'log',
      },
    });
    api = new ApiClient(stack.baseUrl);
    const registered = await api.registerModel(
      demoModelMetadata(demoModelPaths().meta, `csmask-policy-${Date.now()}`),
      demoModelPaths().model,
    );
    modelId = registered.body.id;
  });

  afterAll(async () => {
    await stack?.stop();
    await new Promise<void>((resolve) => internal?.close(() => resolve()));
  });

  it('answers 422 naming webhook_url', async () => {
    const response = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: ['https://example.com/a.tif'] },
      temporal_domain: [],
      webhook_url: 'http://127.0.0.1:8080/hook',
    });
    expect(response.status).toBe(422);
    expect(response.body.field).toBe('webhook_url');
    expect(response.body.message).toMatch(/private or internal address/);
  });

  it.each([
    ['loopback', 'http://127.0.0.1:9/a.tif'],
    ['private', 'http://10.0.0.8/a.tif'],
    ['link-local', 'http://169.254.1.1/a.tif'],
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/iam/'],
    ['IPv6 loopback', 'http://[::1]/a.tif'],
    ['IPv4-mapped IPv6', 'http://[::ffff:127.0.0.1]/a.tif'],
    ['a decimal IPv4 of loopback', 'http://2130706433/a.tif'],
    ['a name resolving to loopback', 'http://localhost:9/a.tif'],
  ])('answers 422 naming spatial_domain.urls.N for a %s URL and stores nothing', async (_label, url) => {
    const before = (await api.get('/api/v2/inference?limit=1')).body.total_records;
    const response = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: ['https://example.com/ok.tif', url] },
      temporal_domain: [],
    });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ statusCode: 422, field: 'spatial_domain.urls.1' });
    expect(response.body.message).toMatch(/private or internal address/);
    expect((await api.get('/api/v2/inference?limit=1')).body.total_records).toBe(before);
  });

  it('never echoes URL credentials in the 422', async () => {
    const response = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: ['http://admin:hunter2@169.254.169.254/latest?token=s3cr3t&X-Amz-Signature=abc'] },
      temporal_domain: [],
    });
    expect(response.status).toBe(422);
    expect(response.text).not.toMatch(/hunter2|s3cr3t|abc|admin/);
  });

  it('checks every connection in the worker: a redirect into an internal address fails the task, and nothing leaks', async () => {
    internalHits.splice(0);
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: {
        urls: [
          `http://user:pa55word@127.0.0.2:${internalPort}/redirect?token=t0psecret`,
          `http://127.0.0.2:${internalPort}/page.tif`,
        ],
      },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    const done = await api.waitForInference(created.body.id, 90_000);
    expect(done.status).toBe('FAILED');
    const tasks = (await api.get(`/api/v2/inference/${created.body.id}/tasks`)).body.tasks;
    const [redirected, page] = tasks.map((task: any) => task.pipeline_steps[0]);
    expect(redirected).toMatchObject({ process_id: 'terrakit-data-fetch', status: 'FAILED' });
    expect(redirected.message).toMatch(/refused: http:\/\/127\.0\.0\.1:\d+\/secret is a private or internal address/);
    // The allowed host answered 200 with an internal page: the step says what is wrong, not what it said.
    expect(page).toMatchObject({ status: 'FAILED' });
    expect(page.message).toMatch(/not a readable GeoTIFF: not a TIFF file$/);
    // The redirect was followed no further than the refused hop: /secret was never asked for.
    expect(internalHits).toEqual(expect.arrayContaining(['/redirect?token=t0psecret', '/page.tif']));
    expect(internalHits).not.toContain('/secret');
    for (const task of tasks) {
      const log = await api.get(`/api/v2/tasks/${task.task_id}/logs/terrakit-data-fetch`);
      expect(log.status).toBe(200);
      expect(log.text).not.toMatch(/pa55word|t0psecret|INTERNAL-SECRET-PAGE/);
      expect(JSON.stringify(task.pipeline_steps)).not.toMatch(/pa55word|t0psecret|INTERNAL-SECRET-PAGE/);
    }
  });
});
