import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths, requiredEnv } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';
import { ensureBuilt, spawnWorker, waitForExit } from '../support/worker-process';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * Scenes window by window (issue 13): a worker that runs every input as a scene (MODEL_WINDOW_MIN_PIXELS=1, windows
 * of one tile row) writes the same COG, byte for byte, as the whole-input path; killed with SIGKILL past half of the
 * scene, the next attempt continues from the last committed window and the output is still the same bytes.
 */
describe('scenes window by window', () => {
  let stack: TestStack;
  let api: ApiClient;
  let temporal: Client;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelId: string;
  const sceneEnv = () => ({
    ...stack.env,
    DATA_DIR: path.join(workDir, 'scene-worker-data'),
    MODEL_WINDOW_MIN_PIXELS: '1',
    MODEL_WINDOW_MB: '1',
    MODEL_CONCURRENCY: '2',
  });

  beforeAll(async () => {
    ensureBuilt();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-scene-'));
    await makeSampleGeoTiff(path.join(workDir, 'scene.tif'), 1536, 21);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio', worker: false });
    api = new ApiClient(stack.baseUrl);
    temporal = new Client({ connection: await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }) });
    const registered = await api.registerModel(
      demoModelMetadata(demoModelPaths().meta, `csmask-scene-${Date.now()}`),
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

  async function startInference(): Promise<string> {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('scene.tif')] },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    return created.body.id as string;
  }

  async function modelStep(inferenceId: string) {
    const tasks = await api.get(`/api/v2/inference/${inferenceId}/tasks`);
    const task = tasks.body.tasks[0];
    return {
      taskId: task.task_id as string,
      step: task.pipeline_steps.find((step: { process_id: string }) => step.process_id === 'model-inference'),
    };
  }

  async function downloadOutput(inferenceId: string, name: string): Promise<string> {
    const { taskId } = await modelStep(inferenceId);
    const output = await api.get(`/api/v2/tasks/${taskId}/output-url`);
    expect(output.status).toBe(200);
    const file = path.join(workDir, name);
    fs.writeFileSync(file, Buffer.from(await (await fetch(output.body.url)).arrayBuffer()));
    return file;
  }

  async function runWith(env: Record<string, string>, name: string): Promise<{ file: string; result: any }> {
    const worker = spawnWorker(env, path.join(workDir, `${name}.log`));
    try {
      const inferenceId = await startInference();
      expect((await api.waitForInference(inferenceId, 240_000)).status).toBe('COMPLETED');
      return {
        file: await downloadOutput(inferenceId, `${name}.tif`),
        result: (await modelStep(inferenceId)).step.result,
      };
    } finally {
      worker.kill('SIGTERM');
      await waitForExit(worker);
    }
  }

  let wholeInput: Promise<{ file: string; result: any }> | undefined;
  const wholeInputRun = () =>
    (wholeInput ??= runWith({ ...stack.env, DATA_DIR: path.join(workDir, 'whole-worker-data') }, 'whole-output'));

  it('writes the same COG, byte for byte, as the whole-input path', async () => {
    const whole = await wholeInputRun();
    expect(whole.result.windows).toBeUndefined();
    const scene = await runWith(sceneEnv(), 'scene-output');
    // 1536 rows in tile rows of 256 with a 32-pixel overlap: 7 tile rows, one window each.
    expect(scene.result.windows).toEqual({ total: 7, computed: 7, resumed_from: 0 });
    expect(scene.result.class_pixel_counts).toEqual(whole.result.class_pixel_counts);
    expect(sha256(scene.file)).toBe(sha256(whole.file));
  }, 600_000);

  it('continues from the last committed window after a SIGKILL past half of the scene', async () => {
    let worker: ChildProcess = spawnWorker(sceneEnv(), path.join(workDir, 'killed.log'));
    try {
      const inferenceId = await startInference();
      // The attempt's checkpoint (stored after each committed window) says how far it got.
      let taskId: string | undefined;
      let committed = 0;
      let total = 0;
      const deadline = Date.now() + 180_000;
      while (Date.now() < deadline) {
        taskId ??= (await modelStep(inferenceId)).taskId;
        const key = `inferences/${inferenceId}/${taskId}/model-output.tif.parts/checkpoint`;
        if (await stack.store.exists(key).catch(() => false)) {
          const bytes = await stack.store.getObject(key).catch(() => undefined);
          if (bytes) {
            const header = JSON.parse(bytes.subarray(4, 4 + bytes.readUInt32LE(0)).toString('utf8'));
            committed = header.nextWindow;
            total = header.windowsTotal;
            if (committed >= Math.ceil(total / 2)) break;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(total).toBe(7);
      expect(committed).toBeGreaterThanOrEqual(4);
      worker.kill('SIGKILL');
      await waitForExit(worker);
      worker = spawnWorker(sceneEnv(), path.join(workDir, 'resumed.log'));
      expect((await api.waitForInference(inferenceId, 240_000)).status).toBe('COMPLETED');
      const { step } = await modelStep(inferenceId);
      // The retry computed only the windows after the last checkpoint: at most ~55 % of them.
      expect(step.result.windows.total).toBe(7);
      expect(step.result.windows.resumed_from).toBeGreaterThanOrEqual(committed);
      expect(step.result.windows.computed).toBe(7 - step.result.windows.resumed_from);
      expect(step.result.windows.computed / 7).toBeLessThanOrEqual(0.55);
      const history = await temporal.workflow.getHandle(inferenceId).fetchHistory();
      const attempts = (history.events ?? [])
        .filter((event) => event.activityTaskStartedEventAttributes)
        .map((event) => event.activityTaskStartedEventAttributes!.attempt ?? 0);
      expect(Math.max(...attempts)).toBeGreaterThanOrEqual(2);
      const log = await api.get(`/api/v2/tasks/${(await modelStep(inferenceId)).taskId}/logs/model-inference`);
      expect(log.text).toMatch(/resuming at window \d of 7/);
      // Byte-identical to an uninterrupted run; the checkpoint and block rows are gone.
      const output = await downloadOutput(inferenceId, 'resumed.tif');
      expect(sha256(output)).toBe(sha256((await wholeInputRun()).file));
      expect(await stack.store.list(`inferences/${inferenceId}/${taskId}/model-output.tif.parts/`)).toEqual([]);
    } finally {
      worker.kill('SIGTERM');
      await waitForExit(worker);
    }
  }, 600_000);
});
