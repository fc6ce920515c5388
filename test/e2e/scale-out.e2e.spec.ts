import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths, requiredEnv } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';
import { ensureBuilt, spawnWorker, waitForExit } from '../support/worker-process';

/**
 * Workers scale out: model inference on its own task queue, two worker processes sharing one inference's
 * tasks, and an inference above the batch size run as child workflows.
 */
describe('scale-out across worker processes and batches', () => {
  let stack: TestStack;
  let api: ApiClient;
  let temporal: Client;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;

  beforeAll(async () => {
    ensureBuilt();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-scale-'));
    await makeSampleGeoTiff(path.join(workDir, 'tile.tif'), 256, 13);
    fixtures = await startFixtureServer(workDir);
    const taskQueue = `scale-${Date.now()}`;
    stack = await startTestStack({
      storage: 'minio',
      worker: false,
      env: {
        TEMPORAL_TASK_QUEUE: taskQueue,
        TEMPORAL_MODEL_TASK_QUEUE: `${taskQueue}-model`,
        INFERENCE_BATCH_TASKS: '3',
        INFERENCE_BATCH_CONCURRENCY: '2',
        INFERENCE_STEP_GROUP_SIZE: '2',
      },
    });
    api = new ApiClient(stack.baseUrl);
    temporal = new Client({ connection: await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }) });
  });

  afterAll(async () => {
    await temporal?.connection.close();
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('two worker processes share the tasks of one batched inference', async () => {
    const modelId = (
      await api.registerModel(
        demoModelMetadata(demoModelPaths().meta, `csmask-scale-${Date.now()}`),
        demoModelPaths().model,
      )
    ).body.id;

    const workerEnv = { ...stack.env, WORKER_MAX_CONCURRENT_ACTIVITIES: '1' };
    const workers = [0, 1].map((index) =>
      spawnWorker(
        { ...workerEnv, DATA_DIR: path.join(workDir, `worker-${index}`) },
        path.join(workDir, `worker-${index}.log`),
      ),
    );
    try {
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: Array.from({ length: 6 }, () => fixtures.url('tile.tif')) },
        temporal_domain: [],
      });
      expect(created.status).toBe(201);
      const finished = await api.waitForInference(created.body.id, 240_000);
      expect(finished).toMatchObject({ status: 'COMPLETED', tasks_count_total: 6, tasks_count_success: 6 });

      const identities = new Set<string>();
      const modelQueues = new Set<string>();
      for (const batch of ['0001', '0002']) {
        const history = await temporal.workflow.getHandle(`${created.body.id}-batch-${batch}`).fetchHistory();
        for (const event of history.events ?? []) {
          const scheduled = event.activityTaskScheduledEventAttributes;
          if (scheduled && ['runModelInference', 'runModelInferences'].includes(scheduled.activityType?.name ?? ''))
            modelQueues.add(scheduled.taskQueue?.name ?? '');
          const started = event.activityTaskStartedEventAttributes;
          if (started?.identity) identities.add(started.identity);
        }
      }
      expect([...modelQueues]).toEqual([`${stack.taskQueue}-model`]);
      expect(identities.size).toBe(2);
      const tasks = (await api.get(`/api/v2/inference/${created.body.id}/tasks`)).body.tasks;
      expect(
        tasks.every(
          (task: { status: string; pipeline_steps: Array<{ status: string }> }) =>
            task.status === 'FINISHED' && task.pipeline_steps.every((step) => step.status === 'FINISHED'),
        ),
      ).toBe(true);
    } finally {
      for (const worker of workers) worker.kill('SIGTERM');
      await Promise.all(workers.map(waitForExit));
    }
  }, 300_000);
});
