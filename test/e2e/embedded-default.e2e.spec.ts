import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { compareMasks, makeSampleGeoTiff, REPO_ROOT } from '../support/python';
import { demoModelPaths, requiredEnv } from '../support/services';
import { freePort } from '../support/stack';
import { ensureBuilt, waitForExit } from '../support/worker-process';

/**
 * `npm start` on embedded defaults, as the built binary: no DATABASE_URL, no TEMPORAL_ADDRESS, no MinIO.
 * It must start PGlite and the Temporal dev server itself, run an inference, and keep everything across
 * a restart (state under DATA_DIR). The embedded worker uses the app's Temporal runtime settings (SDK logs
 * as JSON through pino, SDK metrics at TEMPORAL_METRICS_BIND_ADDRESS) although the dev server starts first.
 */
describe('embedded defaults (npm start)', () => {
  let dataDir: string;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let server: ChildProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let api: ApiClient;
  let sdkMetricsUrl: string;
  /** The Temporal SDK's Prometheus text right after the first inference, from the process that ran it. */
  let sdkMetrics = '';

  async function startServer(): Promise<void> {
    const logFile = fs.openSync(path.join(dataDir, 'server.log'), 'a');
    server = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'src', 'main.js')], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', logFile, logFile],
    });
    fs.closeSync(logFile);
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (server.exitCode !== null)
        throw new Error(`server exited: ${fs.readFileSync(path.join(dataDir, 'server.log'), 'utf8').slice(-2000)}`);
      try {
        if ((await fetch(`${api.baseUrl}/api/health`)).ok) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error('server did not become healthy in 120 s');
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  async function stopServer(): Promise<void> {
    if (!server) return;
    server.kill('SIGTERM');
    await waitForExit(server);
    server = undefined;
  }

  beforeAll(async () => {
    ensureBuilt();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-embedded-'));
    fs.mkdirSync(path.join(dataDir, 'inputs'));
    await makeSampleGeoTiff(path.join(dataDir, 'inputs', 'sample.tif'), 512, 3);
    fixtures = await startFixtureServer(path.join(dataDir, 'inputs'));
    const port = await freePort();
    env = { PATH: process.env.PATH, HOME: process.env.HOME };
    Object.assign(env, {
      PORT: String(port),
      DATA_DIR: path.join(dataDir, 'state'),
      API_KEYS: 'embedded-key:embedded@example.com',
      TEMPORAL_CLI_PATH: requiredEnv('TEMPORAL_CLI_PATH'),
      TEMPORAL_DEV_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${await freePort()}`,
    });
    sdkMetricsUrl = `http://${env.TEMPORAL_METRICS_BIND_ADDRESS}/metrics`;
    api = new ApiClient(`http://127.0.0.1:${port}`, 'embedded-key');
  });

  afterAll(async () => {
    await stopServer();
    await fixtures?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs an inference with no external service configured and keeps it across a restart', async () => {
    await startServer();
    const health = await api.get('/api/health');
    expect(health.body.checks).toMatchObject({
      database: { status: 'up' },
      temporal: { status: 'up' },
      object_storage: { status: 'up' },
    });

    const model = await api.registerModel(demoModelMetadata(demoModelPaths().meta), demoModelPaths().model);
    expect(model.status).toBe(201);
    const created = await api.post('/api/v2/inference', {
      model_id: model.body.id,
      spatial_domain: { urls: [fixtures.url('sample.tif')] },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    const finished = await api.waitForInference(created.body.id);
    expect(finished).toMatchObject({ status: 'COMPLETED', tasks_count_success: 1 });
    // Asserted in the next test, so that this one stays about the embedded defaults.
    sdkMetrics = await fetch(sdkMetricsUrl).then(
      (response) => response.text(),
      (error: Error) => `${sdkMetricsUrl} unreachable: ${error.message}`,
    );
    expect(finished.temporal_ui_url).toBe(
      `http://localhost:${env.TEMPORAL_UI_PORT}/namespaces/default/workflows/${created.body.id}`,
    );

    // Filesystem store: the signed URL is served by the API itself.
    const taskId = `${created.body.id}-task-001`;
    const output = await api.get(`/api/v2/tasks/${taskId}/output-url`);
    expect(output.body.url).toContain(`http://localhost:${env.PORT}/files/`);
    const first = path.join(dataDir, 'first.tif');
    fs.writeFileSync(first, Buffer.from(await (await fetch(output.body.url)).arrayBuffer()));

    await stopServer();
    await startServer();
    const again = await api.get(`/api/v2/inference/${created.body.id}`);
    expect(again.body).toMatchObject({ status: 'COMPLETED', tasks_count_total: 1, tasks_count_success: 1 });
    const tasks = await api.get(`/api/v2/inference/${created.body.id}/tasks`);
    expect(tasks.body.tasks[0].pipeline_steps.every((step: { status: string }) => step.status === 'FINISHED')).toBe(
      true,
    );
    const outputAgain = await api.get(`/api/v2/tasks/${taskId}/output-url`);
    const second = path.join(dataDir, 'second.tif');
    fs.writeFileSync(second, Buffer.from(await (await fetch(outputAgain.body.url)).arrayBuffer()));
    const comparison = await compareMasks(first, second);
    expect(comparison.equal).toBe(comparison.total);
    expect(comparison.crs_a).toMatch(/32633/);
  }, 300_000);

  it("sends the embedded worker's SDK logs and metrics through the app's settings", () => {
    expect(sdkMetrics).toMatch(/^temporal_activity_execution_latency\S* /m);
    expect(sdkMetrics).toMatch(/task_queue="geo-inference"/);

    const lines = fs.readFileSync(path.join(dataDir, 'server.log'), 'utf8').split('\n').filter(Boolean);
    expect(lines.filter((line) => /Runtime singleton|runtime already created/i.test(line))).toEqual([]);
    // The SDK's own logger would print "... [INFO] Worker state changed {" over several lines.
    const workerStates = lines.filter((line) => line.includes('Worker state changed'));
    expect(workerStates.length).toBeGreaterThan(0);
    for (const line of workerStates)
      expect(JSON.parse(line)).toMatchObject({
        component: 'temporal',
        service: 'geo-inference',
        state: expect.any(String),
      });
    const entries = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return []; // the Temporal CLI's start-up banner
      }
    });
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ activity: 'runModelInference', msg: 'activity completed', step: 'model-inference' }),
      ]),
    );
  });

  it('leaves no dev server behind when killed with -9, and refuses a taken dev-server port by name', async () => {
    // kill -9 of the app: its dev server (a child the SDK started) goes with it and frees TEMPORAL_DEV_PORT.
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
      await waitForExit(server);
      server = undefined;
      const freed = Date.now() + 10_000;
      for (;;) {
        const free = await new Promise<boolean>((resolve) => {
          const probe = net.createServer();
          probe.once('error', () => resolve(false));
          probe.listen(Number(env.TEMPORAL_DEV_PORT), '127.0.0.1', () => probe.close(() => resolve(true)));
        });
        if (free) break;
        if (Date.now() > freed) throw new Error('the dev server outlived the app killed with -9');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    await stopServer();
    // Another checkout's dev server (or any app) on TEMPORAL_DEV_PORT: this app must not use it.
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const takenPort = (other.address() as net.AddressInfo).port;
    const logFile = path.join(dataDir, 'port-taken.log');
    const out = fs.openSync(logFile, 'w');
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'src', 'main.js')], {
      cwd: REPO_ROOT,
      env: { ...env, TEMPORAL_DEV_PORT: String(takenPort) },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    try {
      await waitForExit(child);
      expect(child.exitCode).toBe(1);
      const log = fs.readFileSync(logFile, 'utf8');
      expect(log).toContain(`port ${takenPort} (TEMPORAL_DEV_PORT) is already in use by another process`);
      expect(log).toContain('set TEMPORAL_DEV_PORT to a free port');
      // It stopped before listening itself.
      await expect(fetch(`${api.baseUrl}/api/health/live`)).rejects.toThrow();
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  }, 60_000);
});
