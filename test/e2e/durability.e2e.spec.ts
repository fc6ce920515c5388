import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { compareMasks, makeSampleGeoTiff } from '../support/python';
import { demoModelPaths, requiredEnv } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';
import { ensureBuilt, spawnWorker, waitForExit } from '../support/worker-process';
import { startGeoServerDouble, type GeoServerDouble } from '../support/geoserver-double';
import { hostPort, startTcpProxy } from '../support/tcp-proxy';
import { pendingActivities, poll, sha256, workerOf } from '../support/faults';

const WEBHOOK_SECRET = `whsec_${Buffer.from('durability-test-secret-0123456789').toString('base64')}`;

/**
 * Durability: SIGKILL the worker process while `model-inference` runs; a new worker picks the activity up
 * again (heartbeat timeout) and the inference completes with output identical to an uninterrupted run.
 */
describe('worker crash during model-inference', () => {
  let stack: TestStack;
  let api: ApiClient;
  let temporal: Client;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelId: string;

  beforeAll(async () => {
    ensureBuilt();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-durability-'));
    await makeSampleGeoTiff(path.join(workDir, 'scene.tif'), 1280, 11);
    await makeSampleGeoTiff(path.join(workDir, 'small.tif'), 256, 12);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio', worker: false });
    api = new ApiClient(stack.baseUrl);
    temporal = new Client({ connection: await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }) });
    const registered = await api.registerModel(
      demoModelMetadata(demoModelPaths().meta, `csmask-durability-${Date.now()}`),
      demoModelPaths().model,
    );
    expect(registered.status).toBe(201);
    modelId = registered.body.id;
  });

  afterAll(async () => {
    await temporal?.connection.close();
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  let reference: Promise<string> | undefined;
  /** The output of an uninterrupted run of scene.tif (once per file). */
  function referenceOutput(): Promise<string> {
    reference ??= (async () => {
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('scene.tif')] },
        temporal_domain: [],
      });
      expect((await api.waitForInference(created.body.id, 240_000)).status).toBe('COMPLETED');
      return downloadOutput(created.body.id, 'uninterrupted.tif');
    })();
    return reference;
  }

  async function downloadOutput(inferenceId: string, name: string): Promise<string> {
    const tasks = await api.get(`/api/v2/inference/${inferenceId}/tasks`);
    const output = await api.get(`/api/v2/tasks/${tasks.body.tasks[0].task_id}/output-url`);
    expect(output.status).toBe(200);
    const file = path.join(workDir, name);
    fs.writeFileSync(file, Buffer.from(await (await fetch(output.body.url)).arrayBuffer()));
    return file;
  }

  it('completes after the worker is killed mid-inference, with the same output as an uninterrupted run', async () => {
    const workerEnv = { ...stack.env, DATA_DIR: path.join(workDir, 'worker-data') };
    const logFile = path.join(workDir, 'worker.log');
    let worker = spawnWorker(workerEnv, logFile);
    try {
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('scene.tif')] },
        temporal_domain: [],
      });
      expect(created.status).toBe(201);
      const inferenceId: string = created.body.id;
      const handle = temporal.workflow.getHandle(inferenceId);

      // Wait until the model activity has started tiling (its first heartbeat carries the tile count), let
      // it work a moment, then SIGKILL the worker. Heartbeats are throttled, so progress is not polled.
      const deadline = Date.now() + 120_000;
      let progress: { tiles_done: number; tiles_total: number } | undefined;
      while (!progress && Date.now() < deadline) {
        const description = await handle.describe();
        const pending = description.raw.pendingActivities?.find(
          (activity) => activity.activityType?.name === 'runModelInference',
        );
        const payload = pending?.heartbeatDetails?.payloads?.[0]?.data;
        // Keep-alive heartbeats before the first progress carry no details (an empty null payload).
        if (payload?.length)
          progress = JSON.parse(Buffer.from(payload).toString('utf8')) as { tiles_done: number; tiles_total: number };
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(progress?.tiles_total).toBeGreaterThan(20);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      worker.kill('SIGKILL');
      await waitForExit(worker);
      // Killed mid-step: the step has not finished (the live query times out without a worker; the DB says so).
      const during = await api.get(`/api/v2/inference/${inferenceId}/tasks`);
      expect(during.body.tasks[0].pipeline_steps[1]).toMatchObject({
        process_id: 'model-inference',
        status: 'RUNNING',
      });

      worker = spawnWorker(workerEnv, logFile);
      const finished = await api.waitForInference(inferenceId, 240_000);
      expect(finished.status).toBe('COMPLETED');

      // The history shows the model activity was started twice: the killed attempt and the retry.
      const attempts: number[] = [];
      const history = await handle.fetchHistory();
      for (const event of history.events ?? []) {
        if (event.activityTaskStartedEventAttributes)
          attempts.push(event.activityTaskStartedEventAttributes.attempt ?? 0);
      }
      expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
      const interruptedOutput = await downloadOutput(inferenceId, 'interrupted.tif');
      const uninterruptedOutput = await referenceOutput();

      const comparison = await compareMasks(interruptedOutput, uninterruptedOutput);
      expect(comparison.equal).toBe(comparison.total);
      expect(sha256(interruptedOutput)).toBe(sha256(uninterruptedOutput));
    } finally {
      worker.kill('SIGTERM');
      await waitForExit(worker);
    }
  }, 420_000);

  it('waits out an object-storage outage longer than the step retry budget mid model step, spending no attempt', async () => {
    // The worker reaches MinIO through a proxy the test closes; the API keeps its direct connection.
    const storageProxy = await startTcpProxy(hostPort(requiredEnv('MINIO_ENDPOINT')));
    const logFile = path.join(workDir, 'worker-outage.log');
    const worker = spawnWorker(
      {
        ...stack.env,
        DATA_DIR: path.join(workDir, 'worker-outage-data'),
        MINIO_ENDPOINT: `http://${storageProxy.address}`,
        LOG_LEVEL: 'warn',
      },
      logFile,
    );
    try {
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('scene.tif')] },
        temporal_domain: [],
      });
      expect(created.status).toBe(201);
      const handle = temporal.workflow.getHandle(created.body.id);
      await poll('the model step tiling', async () =>
        (await pendingActivities(handle)).find((activity) => activity.name === 'runModelInference' && activity.details)
          ? true
          : undefined,
      );
      // 25 s down: the step's own policy (4 attempts, 1/2/4 s apart) would be spent within ~8 s of the first error.
      await storageProxy.close();
      const outageStarted = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 25_000));
      await storageProxy.open();
      const backAt = Date.now();
      const finished = await api.waitForInference(created.body.id, 240_000);
      const recoveredMs = Date.now() - backAt;
      expect(finished.status).toBe('COMPLETED');
      // No attempt was spent on the outage: every step ran as its first attempt.
      const history = await handle.fetchHistory();
      const attempts = (history.events ?? [])
        .filter((event) => event.activityTaskStartedEventAttributes)
        .map((event) => event.activityTaskStartedEventAttributes!.attempt ?? 0);
      expect(Math.max(...attempts)).toBe(1);
      const log = fs.readFileSync(logFile, 'utf8');
      expect(log).toMatch(/waits for (network|object storage)/);
      process.stdout.write(
        `storage outage ${Math.round((backAt - outageStarted) / 1000)} s mid model step: completed ${Math.round(recoveredMs / 1000)} s after storage was back\n`,
      );
      expect(sha256(await downloadOutput(created.body.id, 'after-outage.tif'))).toBe(sha256(await referenceOutput()));
    } finally {
      worker.kill('SIGTERM');
      await waitForExit(worker);
      await storageProxy.close();
    }
  }, 420_000);

  it('waits out a PostgreSQL outage mid model step and completes without an operator, spending no attempt', async () => {
    // The worker reaches PostgreSQL through a proxy the test closes; the API keeps its direct connection.
    const databaseUrl = new URL(requiredEnv('DATABASE_URL'));
    const databaseProxy = await startTcpProxy({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) });
    databaseUrl.host = databaseProxy.address;
    const outageSeconds = Number(process.env.DB_OUTAGE_SECONDS ?? 20);
    const logFile = path.join(workDir, 'worker-db-outage.log');
    const worker = spawnWorker(
      {
        ...stack.env,
        DATA_DIR: path.join(workDir, 'worker-db-outage-data'),
        DATABASE_URL: databaseUrl.toString(),
        LOG_LEVEL: 'warn',
      },
      logFile,
    );
    try {
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('scene.tif')] },
        temporal_domain: [],
      });
      expect(created.status).toBe(201);
      const handle = temporal.workflow.getHandle(created.body.id);
      await poll('the model step tiling', async () =>
        (await pendingActivities(handle)).find((activity) => activity.name === 'runModelInference' && activity.details)
          ? true
          : undefined,
      );
      await databaseProxy.close();
      const outageStarted = Date.now();
      await new Promise((resolve) => setTimeout(resolve, outageSeconds * 1000));
      await databaseProxy.open();
      const backAt = Date.now();
      const finished = await api.waitForInference(created.body.id, 240_000);
      const recoveredMs = Date.now() - backAt;
      expect(finished.status).toBe('COMPLETED');
      // No attempt was spent on the outage: every step ran as its first attempt.
      const history = await handle.fetchHistory();
      const attempts = (history.events ?? [])
        .filter((event) => event.activityTaskStartedEventAttributes)
        .map((event) => event.activityTaskStartedEventAttributes!.attempt ?? 0);
      expect(Math.max(...attempts)).toBe(1);
      process.stdout.write(
        `PostgreSQL outage ${Math.round((backAt - outageStarted) / 1000)} s mid model step: completed ${Math.round(recoveredMs / 1000)} s after it was back\n`,
      );
      expect(recoveredMs).toBeLessThan(60_000);
      expect(sha256(await downloadOutput(created.body.id, 'after-db-outage.tif'))).toBe(
        sha256(await referenceOutput()),
      );
    } finally {
      worker.kill('SIGTERM');
      await waitForExit(worker);
      await databaseProxy.close();
    }
  }, 420_000);

  it("moves a lost worker's push-to-geoserver and webhook delivery to another worker within 30 s", async () => {
    const geoserver: GeoServerDouble = await startGeoServerDouble({ user: 'admin', password: 'durable' });
    // The webhook receiver holds the first delivery unanswered (its sender gets killed), answers 200 after.
    const deliveries: Array<{ id: string; at: number }> = [];
    const receiver = http.createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        deliveries.push({ id: String(request.headers['webhook-id']), at: Date.now() });
        if (deliveries.length > 1) response.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    geoserver.delayNext('PUT', /file\.geotiff$/, 120_000);
    const env = {
      ...stack.env,
      GEOSERVER_URL: geoserver.url,
      GEOSERVER_USER: 'admin',
      GEOSERVER_PASSWORD: 'durable',
      GEOSERVER_TIMEOUT_MS: '300000',
      WEBHOOK_TIMEOUT_MS: '300000',
      WEBHOOK_SECRET,
    };
    const logFile = path.join(workDir, 'worker-lost.log');
    const spawnOne = (name: string) => spawnWorker({ ...env, DATA_DIR: path.join(workDir, name) }, logFile);
    const workers = [spawnOne('lost-a'), spawnOne('lost-b')];
    try {
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('small.tif')] },
        temporal_domain: [],
        webhook_url: receiverUrl,
        webhook_secret: WEBHOOK_SECRET,
      });
      expect(created.status).toBe(201);
      const handle = temporal.workflow.getHandle(created.body.id);

      /** Kills the worker running `name` once `ready` says it is mid-step; ms until another worker runs it. */
      const killDuring = async (name: string, ready: () => boolean, movedOn: () => Promise<boolean>) => {
        const running = await poll(`${name} running`, async () =>
          (await pendingActivities(handle)).find((activity) => activity.name === name && activity.started && ready()),
        );
        const victim = workerOf(workers, running.worker);
        victim.kill('SIGKILL');
        const killedAt = Date.now();
        await waitForExit(victim);
        workers.splice(workers.indexOf(victim), 1, spawnOne(`lost-${workers.length}-${name}`));
        await poll(`${name} on another worker`, async () => ((await movedOn()) ? true : undefined), 90_000);
        return Date.now() - killedAt;
      };

      const publishMs = await killDuring(
        'pushToGeoserver',
        () => geoserver.requests.some((request) => request.status === 0),
        async () =>
          (await pendingActivities(handle)).some(
            (activity) => activity.name === 'pushToGeoserver' && activity.attempt >= 2 && activity.started,
          ) || (await api.get(`/api/v2/inference/${created.body.id}`)).body.status === 'COMPLETED',
      );
      const webhookMs = await killDuring(
        'deliverWebhook',
        () => deliveries.length === 1,
        async () => deliveries.length >= 2,
      );
      process.stdout.write(
        `worker killed mid-step: push-to-geoserver on another worker after ${publishMs} ms, webhook after ${webhookMs} ms\n`,
      );
      expect(publishMs).toBeLessThan(30_000);
      expect(webhookMs).toBeLessThan(30_000);

      const finished = await api.waitForInference(created.body.id, 120_000);
      expect(finished.status).toBe('COMPLETED');
      expect(new Set(deliveries.map((delivery) => delivery.id)).size).toBe(1);
      // The attempt cut off by the kill is in the audit, as sent without a known answer.
      const audit = await poll('the delivery recorded', async () => {
        const response = await api.get(`/api/v2/inference/${created.body.id}/webhook-deliveries`);
        return response.body.delivered ? response.body : undefined;
      });
      expect(audit.results.map((row: { attempt: number; status: string }) => [row.attempt, row.status])).toEqual([
        [1, 'UNKNOWN'],
        [2, 'DELIVERED'],
      ]);
    } finally {
      for (const worker of workers) worker.kill('SIGTERM');
      for (const worker of workers) await waitForExit(worker);
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      await geoserver.close();
    }
  }, 420_000);
});
