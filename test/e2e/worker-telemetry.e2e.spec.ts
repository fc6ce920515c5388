import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths } from '../support/services';
import { freePort, startTestStack, type TestStack } from '../support/stack';
import { ensureBuilt, spawnWorker, waitForExit } from '../support/worker-process';

/**
 * A standalone worker process (`npm run start:worker`) with TEMPORAL_METRICS_BIND_ADDRESS and
 * WORKER_METRICS_PORT: the Temporal SDK's Prometheus endpoint, the step/task metrics endpoint, JSON log
 * lines carrying the inference and task ids, and its poller in GET /api/queues/status.
 */
describe('standalone worker telemetry', () => {
  let stack: TestStack;
  let api: ApiClient;
  let workDir: string;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let worker: ChildProcess | undefined;

  beforeAll(async () => {
    ensureBuilt();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-telemetry-'));
    await makeSampleGeoTiff(path.join(workDir, 'sample.tif'), 256, 5);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({
      storage: 'minio',
      worker: false,
      env: { TEMPORAL_TASK_QUEUE: `telemetry-${Date.now()}` },
    });
    api = new ApiClient(stack.baseUrl);
  });

  afterAll(async () => {
    if (worker) {
      worker.kill('SIGTERM');
      await waitForExit(worker);
    }
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('exposes SDK and pipeline metrics, logs JSON with ids, and shows up as a poller', async () => {
    const sdkPort = await freePort();
    const metricsPort = await freePort();
    const logFile = path.join(workDir, 'worker.log');
    worker = spawnWorker(
      {
        ...stack.env,
        DATA_DIR: path.join(workDir, 'worker'),
        LOG_LEVEL: 'log',
        TEMPORAL_METRICS_BIND_ADDRESS: `127.0.0.1:${sdkPort}`,
        WORKER_METRICS_PORT: String(metricsPort),
      },
      logFile,
    );

    const { model, meta } = demoModelPaths();
    const registered = await api.registerModel(demoModelMetadata(meta, `csmask-telemetry-${Date.now()}`), model);
    expect(registered.status).toBe(201);
    const created = await api.post('/api/v2/inference', {
      model_id: registered.body.id,
      spatial_domain: { urls: [fixtures.url('sample.tif')] },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    expect(await api.waitForInference(created.body.id)).toMatchObject({ status: 'COMPLETED' });

    const queues = await api.get('/api/queues/status');
    const identities = queues.body.queues[0].types.activity.pollers.map(
      (poller: { identity: string }) => poller.identity,
    );
    expect(identities).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${worker.pid}@`))]));

    const pipeline = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(pipeline).toMatch(/^geo_steps_processed_total\{step="model-inference",status="FINISHED"\} 1$/m);
    expect(pipeline).toMatch(/^geo_tasks_processed_total\{status="FINISHED"\} 1$/m);
    expect(pipeline).toMatch(/^geo_step_duration_seconds_count\{step="model-inference",status="FINISHED"\} 1$/m);

    const sdk = await (await fetch(`http://127.0.0.1:${sdkPort}/metrics`)).text();
    expect(sdk).toMatch(/^temporal_activity_execution_latency\S* /m);
    expect(sdk).toMatch(new RegExp(`task_queue="${stack.taskQueue}"`));

    const entries = fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const modelRun = entries.find(
      (entry) => entry.activity === 'runModelInference' && entry.msg === 'activity completed',
    );
    expect(modelRun).toMatchObject({
      inference_id: created.body.id,
      task_id: expect.stringContaining(created.body.id),
      step: 'model-inference',
      service: 'geo-inference',
      level: 'info',
    });
  });
});
