import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import {
  activityAttempts,
  comparableCoco,
  pendingActivities,
  poll,
  startHoldingHttpProxy,
  workerOf,
} from '../support/faults';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths, requiredEnv } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';
import { hostPort } from '../support/tcp-proxy';
import { ensureBuilt, spawnWorker, waitForExit } from '../support/worker-process';

/**
 * Durability of the COCO export: SIGKILL the worker while `exportCoco` runs. The moment is found on the
 * storage path, not in an earlier step: the workers reach MinIO through a proxy that holds the first PUT of
 * an inference's coco.json (the export has read every mask and built the JSON; it waits for storage), so
 * nothing before the export is slowed or retried.
 */
describe('worker crash during the COCO export', () => {
  let stack: TestStack;
  let api: ApiClient;
  let temporal: Client;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelId: string;

  beforeAll(async () => {
    ensureBuilt();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-durability-coco-'));
    await makeSampleGeoTiff(path.join(workDir, 'a.tif'), 256, 21);
    await makeSampleGeoTiff(path.join(workDir, 'b.tif'), 256, 22);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio', worker: false });
    api = new ApiClient(stack.baseUrl);
    temporal = new Client({ connection: await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }) });
    const registered = await api.registerModel(
      demoModelMetadata(demoModelPaths().meta, `csmask-durability-coco-${Date.now()}`),
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

  const create = async () => {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('a.tif'), fixtures.url('b.tif')] },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    return created.body.id as string;
  };

  /** The inference's COCO as the API serves it, with its own ids and date replaced. */
  const comparable = async (inferenceId: string) => {
    const coco = await api.get(`/api/v2/inference/${inferenceId}/coco`);
    expect(coco.status).toBe(200);
    const tasks = await api.get(`/api/v2/inference/${inferenceId}/tasks`);
    const taskIds = tasks.body.tasks.map((task: { task_id: string }) => task.task_id);
    return { text: comparableCoco(coco.body, inferenceId, taskIds), raw: coco.body };
  };

  it('hands the export over to another worker within 30 s, with the same COCO as an uninterrupted run', async () => {
    const storage = await startHoldingHttpProxy(hostPort(requiredEnv('MINIO_ENDPOINT')));
    const logFile = path.join(workDir, 'workers.log');
    const env = { ...stack.env, MINIO_ENDPOINT: `http://${storage.address}` };
    const spawnOne = (name: string) => spawnWorker({ ...env, DATA_DIR: path.join(workDir, name) }, logFile);
    const workers = [spawnOne('worker-a'), spawnOne('worker-b')];
    try {
      const inferenceId = await create();
      storage.holdNext('PUT', new RegExp(`/inferences/${inferenceId}/coco\\.json$`));
      const handle = temporal.workflow.getHandle(inferenceId);

      // The export has sent its result and waits for storage's answer: it is mid-step.
      await poll('the COCO export writing coco.json', async () => (storage.held.length ? true : undefined), 180_000);
      const running = await poll('exportCoco running', async () =>
        (await pendingActivities(handle)).find((activity) => activity.name === 'exportCoco' && activity.started),
      );
      const victim = workerOf(workers, running.worker);
      victim.kill('SIGKILL');
      const killedAt = Date.now();
      await waitForExit(victim);
      workers.splice(workers.indexOf(victim), 1, spawnOne('worker-c'));

      const handedOver = await poll(
        'exportCoco on another worker',
        async () => {
          const again = (await pendingActivities(handle)).find(
            (activity) => activity.name === 'exportCoco' && activity.attempt >= 2 && activity.started,
          );
          if (again) return again;
          // Done between two polls: the history then shows the second attempt.
          const attempts = await activityAttempts(handle);
          return attempts.some((start) => start.name === 'exportCoco' && start.attempt >= 2)
            ? { worker: 'finished' }
            : undefined;
        },
        90_000,
        100,
      );
      const handoverMs = Date.now() - killedAt;
      expect(handedOver.worker).not.toBe(running.worker);
      const finished = await api.waitForInference(inferenceId, 120_000);
      expect(finished.status).toBe('COMPLETED');
      process.stdout.write(`worker killed mid COCO export: on another worker after ${handoverMs} ms\n`);
      expect(handoverMs).toBeLessThan(30_000);

      // The export the killed worker built (held on its way to storage) is the one the retry stored, but for
      // its creation date; and the same as an uninterrupted run of the same inputs.
      const interrupted = await comparable(inferenceId);
      const killedAttempt = JSON.parse(storage.held[0]!.body.toString('utf8'));
      expect(interrupted.raw.annotations.length).toBeGreaterThan(0);
      expect(JSON.stringify({ ...interrupted.raw, info: undefined })).toBe(
        JSON.stringify({ ...killedAttempt, info: undefined }),
      );
      const referenceId = await create();
      expect((await api.waitForInference(referenceId, 120_000)).status).toBe('COMPLETED');
      expect(interrupted.text).toBe((await comparable(referenceId)).text);
    } finally {
      for (const worker of workers) worker.kill('SIGTERM');
      for (const worker of workers) await waitForExit(worker);
      await storage.close();
    }
  }, 360_000);
});
