import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { demoModelMetadata } from '../../scripts/demo-model';
import { createApiApp } from '../../src/app';
import { signEventsToken } from '../../src/api/events/events-token';
import { InferenceEventsHub } from '../../src/api/events/events-hub';
import { resolveUrlSigningSecret } from '../../src/platform/storage/filesystem-object-store';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { startPglite } from '../support/pglite';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths } from '../support/services';
import { collectWithEventSource, openRawStream, type SseMessage } from '../support/sse';
import { freePort, startTestStack, USERS, type TestStack } from '../support/stack';

const ids = (messages: SseMessage[]) => messages.map((message) => Number(message.id));
const ended = (messages: SseMessage[]) => messages.some((message) => message.event === 'inference.end');

/** GET /api/v2/inference/{id}/events against real PostgreSQL, Temporal, MinIO and the demo model. */
describe('live inference events (SSE)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelId: string;
  let completedId: string;
  let completedEvents: SseMessage[];

  const eventsUrl = (id: string, query = '') => `${stack.baseUrl}/api/v2/inference/${id}/events${query}`;
  const auth = (user = USERS.alice) => ({ Authorization: `Bearer ${user.key}` });

  async function startInference(): Promise<string> {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('sample.tif'), fixtures.url('sample.tif')] },
      temporal_domain: ['2024-06-15'],
    });
    expect(created.status).toBe(201);
    return created.body.id;
  }

  /** An inference row of alice's that no workflow runs: the test writes its projection itself. */
  async function fakeInference(status = 'RUNNING'): Promise<{ id: string; taskId: string }> {
    const id = randomUUID();
    await stack.dataSource.query(
      `INSERT INTO inferences (id, model_id, model_display_name, spatial_domain, temporal_domain, status, workflow_id, created_by)
       VALUES ($1, $2, 'm', '{}', '[]', $3, $4, $5)`,
      [id, modelId, status, id, USERS.alice.email],
    );
    const taskId = `${id}-task-001`;
    await stack.dataSource.query(
      `INSERT INTO inference_tasks (task_id, inference_id, task_index, input, status, pipeline_steps)
       VALUES ($1, $2, 0, '{}', 'RUNNING', '[{"process_id":"model-inference","step_number":1,"status":"RUNNING"}]')`,
      [taskId, id],
    );
    return { id, taskId };
  }

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-events-'));
    await makeSampleGeoTiff(path.join(workDir, 'sample.tif'), 256, 5);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio', env: { EVENTS_KEEPALIVE_SECONDS: '1' } });
    api = new ApiClient(stack.baseUrl);
    const registered = await api.registerModel(
      demoModelMetadata(demoModelPaths().meta, `csmask-events-${Date.now()}`),
      demoModelPaths().model,
    );
    expect(registered.status).toBe(201);
    modelId = registered.body.id;
  });

  afterAll(async () => {
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('streams a real inference to COMPLETED in order to an EventSource, ending with inference.end', async () => {
    const id = await startInference();
    const { source, messages, closed } = collectWithEventSource(eventsUrl(id), USERS.alice.key);
    try {
      await closed;
    } finally {
      source.close();
    }
    expect(ids(messages)).toEqual(messages.map((_, index) => index + 1));
    expect(messages[0]).toMatchObject({ event: 'inference.status', data: { status: 'PENDING' } });
    expect(messages.at(-1)).toMatchObject({ event: 'inference.end', data: { status: 'COMPLETED' } });
    expect(messages.filter((message) => message.event === 'inference.end')).toHaveLength(1);
    const statuses = messages
      .filter((message) => message.event === 'inference.status')
      .map((message) => message.data.status);
    expect(statuses).toEqual(['PENDING', 'RUNNING', 'COMPLETED']);

    const tasks = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
    for (const task of tasks) {
      const own = messages.filter((message) => message.data.task_id === task.task_id);
      const taskStatuses = own.filter((m) => m.event === 'task.status').map((m) => m.data.status);
      expect(taskStatuses).toEqual(['RUNNING', 'FINISHED']);
      for (const step of task.pipeline_steps) {
        const stepStatuses = own
          .filter((m) => m.event === 'step.status' && m.data.step_id === step.process_id)
          .map((m) => [m.data.step_number, m.data.status]);
        expect(stepStatuses).toEqual([
          [step.step_number, 'RUNNING'],
          [step.step_number, 'FINISHED'],
        ]);
      }
      // The output comes after the last step finished and before the task's own FINISHED.
      const types = own.map((m) => `${m.event}:${m.data.status ?? ''}`);
      expect(types.indexOf('task.output:')).toBe(types.length - 2);
      const output = own.find((m) => m.event === 'task.output')!.data;
      expect(output.output_url).toBe(`${stack.baseUrl}/api/v2/tasks/${task.task_id}/output-url`);
      expect((await api.get(output.output_url.slice(stack.baseUrl.length))).body.output_key).toBe(task.output_key);
      const tile = await fetch(output.tile_url_template.replace('{z}/{x}/{y}', '0/0/0'));
      expect(tile.status).toBe(200);
      expect(tile.headers.get('content-type')).toBe('image/png');
    }
    for (const message of messages) expect(Date.parse(message.data.at)).toBeGreaterThan(0);
    completedId = id;
    completedEvents = messages;
  });

  it('replays a finished inference to a late subscriber and closes; 204 once it has everything', async () => {
    const stream = await openRawStream(eventsUrl(completedId), auth());
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.headers.get('cache-control')).toMatch(/no-cache/);
    await stream.ended;
    expect(stream.messages.map(({ id, event }) => [id, event])).toEqual(
      completedEvents.map(({ id, event }) => [id, event]),
    );
    expect(stream.messages.map((message) => message.data.status)).toEqual(
      completedEvents.map((message) => message.data.status),
    );

    const tail = await openRawStream(eventsUrl(completedId, '?last_event_id=3'), auth());
    await tail.ended;
    expect(ids(tail.messages)).toEqual(ids(completedEvents).slice(3));

    const last = completedEvents.at(-1)!.id!;
    const done = await fetch(eventsUrl(completedId), { headers: { ...auth(), 'Last-Event-ID': last } });
    expect(done.status).toBe(204);
  });

  it('resumes with Last-Event-ID after a dropped connection: no gap, no duplicate', async () => {
    const id = await startInference();
    const first = await openRawStream(eventsUrl(id), auth());
    await first.waitFor((messages) => messages.some((message) => message.event === 'step.status'));
    first.abort();
    await first.ended;
    const seen = [...first.messages];
    // Events happen while nobody is connected.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const second = await openRawStream(eventsUrl(id, '?last_event_id=1'), {
      ...auth(),
      'Last-Event-ID': seen.at(-1)!.id!,
    });
    await second.ended;
    const all = [...seen, ...second.messages];
    expect(ended(all)).toBe(true);
    expect(ids(all)).toEqual(all.map((_, index) => index + 1));

    const replay = await openRawStream(eventsUrl(id), auth());
    await replay.ended;
    // Tile tokens are signed when sent, so they differ between deliveries of the same event.
    const comparable = (messages: SseMessage[]) =>
      messages.map(({ id: eventId, event, data }) => {
        const { tile_url_expires_at: _expires, ...rest } = data;
        return [eventId, event, JSON.parse(JSON.stringify(rest).replace(/token=[^"]+/g, 'token='))];
      });
    expect(comparable(all)).toEqual(comparable(replay.messages));
  });

  describe('a second API process on the same database', () => {
    let second: INestApplication;
    let secondUrl: string;

    beforeAll(async () => {
      const port = await freePort();
      second = await createApiApp({ logger: ['error', 'warn'] });
      await second.listen(port, '127.0.0.1');
      secondUrl = `http://127.0.0.1:${port}`;
    });

    afterAll(async () => {
      await second?.close();
    });

    it('serves the events of an inference run through the first one, from the database', async () => {
      const id = await startInference();
      const { source, messages, closed } = collectWithEventSource(
        `${secondUrl}/api/v2/inference/${id}/events`,
        USERS.alice.key,
      );
      try {
        await closed;
      } finally {
        source.close();
      }
      expect(second.get(InferenceEventsHub).mode).toBe('listen');
      expect(ids(messages)).toEqual(messages.map((_, index) => index + 1));
      expect(messages.at(-1)).toMatchObject({ event: 'inference.end', data: { status: 'COMPLETED' } });
      expect(messages.filter((message) => message.event === 'task.output')).toHaveLength(2);
    });
  });

  describe('an API process on the embedded engine (PGlite), where notifications do not reach listeners', () => {
    let pglite: Awaited<ReturnType<typeof startPglite>>;
    let embedded: INestApplication;
    let embeddedUrl: string;

    beforeAll(async () => {
      pglite = await startPglite();
      const databaseUrl = process.env.DATABASE_URL;
      process.env.DATABASE_URL = pglite.url;
      try {
        const port = await freePort();
        embedded = await createApiApp({ logger: ['error', 'warn'] });
        await embedded.listen(port, '127.0.0.1');
        embeddedUrl = `http://127.0.0.1:${port}`;
      } finally {
        process.env.DATABASE_URL = databaseUrl;
      }
    });

    afterAll(async () => {
      await embedded?.close();
      await pglite?.stop();
    });

    it('polls: status changes still arrive, in order, and the stream closes at the end', async () => {
      const db = embedded.get(DataSource);
      const modelId = randomUUID();
      const id = randomUUID();
      await db.query(
        `INSERT INTO models (id, display_name, status, model_input_data_spec, file_key, file_name, file_sha256, file_size, created_by, owner)
         VALUES ($1, 'm', 'READY', '{}', 'k', 'm.onnx', repeat('0', 64), 1, $2, $2)`,
        [modelId, USERS.alice.email],
      );
      await db.query(
        `INSERT INTO inferences (id, model_id, model_display_name, spatial_domain, temporal_domain, status, workflow_id, created_by)
         VALUES ($1, $2, 'm', '{}', '[]', 'PENDING', $3, $4)`,
        [id, modelId, id, USERS.alice.email],
      );
      const stream = await openRawStream(`${embeddedUrl}/api/v2/inference/${id}/events`, auth());
      await stream.waitFor((messages) => messages.length === 1, 10_000);
      await db.query(`UPDATE inferences SET status = 'RUNNING' WHERE id = $1`, [id]);
      await stream.waitFor((messages) => messages.length === 2, 10_000);
      await db.query(`UPDATE inferences SET status = 'COMPLETED' WHERE id = $1`, [id]);
      await stream.ended;
      expect(stream.messages.map((message) => [message.id, message.data.status])).toEqual([
        ['1', 'PENDING'],
        ['2', 'RUNNING'],
        ['3', 'COMPLETED'],
        ['4', 'COMPLETED'],
      ]);
      const hub = embedded.get(InferenceEventsHub);
      for (const deadline = Date.now() + 10_000; hub.mode === 'starting' && Date.now() < deadline;)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(hub.mode).toBe('poll');
    });
  });

  it('sends keep-alive comments, step progress and status changes as they are written, then closes', async () => {
    const { id, taskId } = await fakeInference();
    const stream = await openRawStream(eventsUrl(id), auth());
    expect(stream.status).toBe(200);
    await stream.waitFor(() => stream.comments.includes('keep-alive'), 5000);
    await stack.dataSource.query(`UPDATE inference_tasks SET pipeline_steps = $2 WHERE task_id = $1`, [
      taskId,
      JSON.stringify([
        {
          process_id: 'model-inference',
          step_number: 1,
          status: 'RUNNING',
          progress: { done: 3, total: 12, unit: 'tiles', eta_seconds: 9 },
        },
      ]),
    ]);
    await stream.waitFor((messages) => messages.some((message) => message.event === 'step.progress'), 5000);
    expect(stream.messages.find((message) => message.event === 'step.progress')!.data).toMatchObject({
      task_id: taskId,
      step_id: 'model-inference',
      step_number: 1,
      done: 3,
      total: 12,
      unit: 'tiles',
      eta_seconds: 9,
    });
    await stack.dataSource.query(`UPDATE inferences SET status = 'STOPPED', status_message = 'stopped' WHERE id = $1`, [
      id,
    ]);
    await stream.ended;
    expect(stream.messages.slice(-2)).toMatchObject([
      { event: 'inference.status', data: { status: 'STOPPED', message: 'stopped' } },
      { event: 'inference.end', data: { status: 'STOPPED' } },
    ]);
    const endId = stream.messages.at(-1)!.id!;

    // A later message of the ended inference: sent, and the stream still closes.
    await stack.dataSource.query(`UPDATE inferences SET status_message = 'stopped by alice' WHERE id = $1`, [id]);
    const late = await openRawStream(eventsUrl(id), { ...auth(), 'Last-Event-ID': endId });
    await late.ended;
    expect(late.messages).toMatchObject([{ event: 'inference.status', data: { message: 'stopped by alice' } }]);

    // A retry reopens it: the stream from the last id follows the new run to its end.
    const lastId = late.messages[0].id!;
    await stack.dataSource.query(`UPDATE inferences SET status = 'PENDING', status_message = NULL WHERE id = $1`, [id]);
    const rerun = await openRawStream(eventsUrl(id), { ...auth(), 'Last-Event-ID': lastId });
    await rerun.waitFor((messages) => messages.length === 1, 5000);
    await stack.dataSource.query(`UPDATE inferences SET status = 'COMPLETED' WHERE id = $1`, [id]);
    await rerun.ended;
    expect(rerun.messages.map((message) => [message.event, message.data.status])).toEqual([
      ['inference.status', 'PENDING'],
      ['inference.status', 'COMPLETED'],
      ['inference.end', 'COMPLETED'],
    ]);
  });

  it('ends the stream of an inference deleted meanwhile', async () => {
    const { id } = await fakeInference();
    const stream = await openRawStream(eventsUrl(id), auth());
    await stream.waitFor((messages) => messages.length >= 1, 5000);
    await stack.dataSource.query('DELETE FROM inferences WHERE id = $1', [id]);
    await Promise.race([
      stream.ended,
      new Promise((_, reject) => setTimeout(() => reject(new Error('stream still open')), 5000)),
    ]);
  });

  it("answers 404 for another user's inference and 401 without a credential", async () => {
    const other = await fetch(eventsUrl(completedId), { headers: auth(USERS.bob) });
    expect(other.status).toBe(404);
    expect((await api.as(USERS.bob.key).post(`/api/v2/inference/${completedId}/events/token`, {})).status).toBe(404);
    expect((await fetch(eventsUrl(randomUUID()), { headers: auth() })).status).toBe(404);
    const missing = await fetch(eventsUrl(completedId));
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ statusCode: 401, message: expect.stringMatching(/token/) });
    expect((await fetch(eventsUrl(completedId), { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await api.as(undefined).post(`/api/v2/inference/${completedId}/events/token`, {})).status).toBe(401);
    const badCursor = await fetch(eventsUrl(completedId), { headers: { ...auth(), 'Last-Event-ID': 'abc' } });
    expect(badCursor.status).toBe(400);
    expect(await badCursor.json()).toMatchObject({ field: 'Last-Event-ID' });
    expect((await fetch(eventsUrl(completedId, '?last_event_id=100000'), { headers: auth() })).status).toBe(400);
  });

  it('accepts a short-lived token instead of the key; a bad, expired or foreign token is refused', async () => {
    const issued = await api.post(`/api/v2/inference/${completedId}/events/token`, {});
    expect(issued.status).toBe(201);
    expect(issued.body.events_url).toBe(eventsUrl(completedId, `?token=${encodeURIComponent(issued.body.token)}`));
    const expiresIn = Date.parse(issued.body.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(3500_000);
    expect(expiresIn).toBeLessThanOrEqual(3600_000);

    const { source, messages, closed } = collectWithEventSource(issued.body.events_url);
    try {
      await closed;
    } finally {
      source.close();
    }
    expect(ids(messages)).toEqual(ids(completedEvents));

    const token: string = issued.body.token;
    const tampered = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
    const secret = resolveUrlSigningSecret(stack.config);
    const expired = signEventsToken(completedId, USERS.alice.email, Math.floor(Date.now() / 1000) - 5, secret);
    const forBob = signEventsToken(completedId, USERS.bob.email, Math.floor(Date.now() / 1000) + 60, secret);
    const other = await fakeInference();
    for (const [label, url, status] of [
      ['tampered', eventsUrl(completedId, `?token=${tampered}`), 403],
      ['malformed', eventsUrl(completedId, '?token=nonsense'), 403],
      ['expired', eventsUrl(completedId, `?token=${expired}`), 403],
      ['another inference', eventsUrl(other.id, `?token=${token}`), 403],
      // A valid token of another user: that user's view, where the inference does not exist.
      ['another user', eventsUrl(completedId, `?token=${forBob}`), 404],
    ] as const) {
      const response = await fetch(url);
      expect([label, response.status]).toEqual([label, status]);
    }
    const expiredAnswer = await (await fetch(eventsUrl(completedId, `?token=${expired}`))).json();
    expect(expiredAnswer).toMatchObject({ statusCode: 403, field: 'token', message: expect.stringMatching(/expired/) });
  });

  it('is in the OpenAPI document as an event stream', async () => {
    const document = (await api.as(undefined).get('/docs-json')).body;
    const operation = document.paths['/api/v2/inference/{id}/events'].get;
    expect(Object.keys(operation.responses['200'].content)).toEqual(['text/event-stream']);
    expect(operation.parameters.map((p: { in: string; name: string }) => `${p.in}:${p.name}`)).toEqual(
      expect.arrayContaining(['query:token', 'query:last_event_id', 'header:Last-Event-ID', 'path:id']),
    );
    expect(operation.security).toEqual([{ 'api-key': [] }]);
    expect(document.paths['/api/v2/inference/{id}/events/token'].post.security).toEqual([{ 'api-key': [] }]);
  });
});
