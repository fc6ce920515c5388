import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { compareMasks, makeSampleGeoTiff } from '../support/python';
import { demoModelPaths, requiredEnv } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';
import { ensureBuilt, spawnWorker, waitForExit } from '../support/worker-process';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

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
        if (payload)
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

      const reference = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [fixtures.url('scene.tif')] },
        temporal_domain: [],
      });
      expect((await api.waitForInference(reference.body.id, 240_000)).status).toBe('COMPLETED');
      const uninterruptedOutput = await downloadOutput(reference.body.id, 'uninterrupted.tif');

      const comparison = await compareMasks(interruptedOutput, uninterruptedOutput);
      expect(comparison.equal).toBe(comparison.total);
      expect(sha256(interruptedOutput)).toBe(sha256(uninterruptedOutput));
    } finally {
      worker.kill('SIGTERM');
      await waitForExit(worker);
    }
  }, 420_000);
});
