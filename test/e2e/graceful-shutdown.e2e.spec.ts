import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';
import { ensureBuilt, spawnWorker, waitForExit } from '../support/worker-process';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'processors');

/**
 * SIGTERM on a worker process (what Kubernetes and docker stop send): it stops polling, lets the running step
 * finish within WORKER_SHUTDOWN_GRACE_SECONDS, and otherwise cancels it so another worker takes it over.
 * Nothing is lost either way.
 */
describe('graceful worker shutdown (SIGTERM)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelName: string;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    ensureBuilt();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-sigterm-'));
    await makeSampleGeoTiff(path.join(workDir, 'sample.tif'), 256, 5);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio', worker: false });
    api = new ApiClient(stack.baseUrl);
    modelName = `csmask-sigterm-${Date.now()}`;
    expect(
      (await api.registerModel(demoModelMetadata(demoModelPaths().meta, modelName), demoModelPaths().model)).status,
    ).toBe(201);
  });

  afterAll(async () => {
    for (const worker of workers) {
      worker.kill('SIGKILL');
      await waitForExit(worker);
    }
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  function startWorker(graceSeconds: number): ChildProcess {
    const worker = spawnWorker(
      {
        ...stack.env,
        DATA_DIR: path.join(workDir, 'worker-data'),
        WORKER_SHUTDOWN_GRACE_SECONDS: String(graceSeconds),
      },
      path.join(workDir, 'worker.log'),
    );
    workers.push(worker);
    return worker;
  }

  async function startSlowInference(seconds: number): Promise<{ inferenceId: string; taskId: string }> {
    const processor = (
      await api.uploadProcessor(
        { name: `slow-${seconds}`, processor_parameters: { seconds } },
        fs.readFileSync(path.join(FIXTURES, 'slow_copy.py')),
        'slow_copy.py',
      )
    ).body as { id: string };
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { urls: [fixtures.url('sample.tif')] },
      temporal_domain: [],
      generic_processor_id: processor.id,
    });
    expect(created.status).toBe(201);
    const inferenceId: string = created.body.id;
    // Wait until the processor step runs: that is when the worker gets SIGTERM.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const tasks = await api.get(`/api/v2/inference/${inferenceId}/tasks`);
      const task = tasks.body.tasks?.[0];
      if (task?.pipeline_steps?.[2]?.status === 'RUNNING') return { inferenceId, taskId: task.task_id };
      if (Date.now() > deadline) throw new Error(`processor step never ran: ${JSON.stringify(task)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async function exitCodeWithin(worker: ChildProcess, ms: number): Promise<number | null> {
    const started = Date.now();
    await Promise.race([waitForExit(worker), new Promise((resolve) => setTimeout(resolve, ms))]);
    expect(worker.exitCode ?? worker.signalCode).not.toBeNull();
    expect(Date.now() - started).toBeLessThan(ms);
    return worker.exitCode;
  }

  it('lets the running step finish within the grace time, exits cleanly, and the next worker completes the inference', async () => {
    const first = startWorker(30);
    const { inferenceId, taskId } = await startSlowInference(3);
    first.kill('SIGTERM');
    expect(await exitCodeWithin(first, 25_000)).toBe(0);

    startWorker(30);
    expect(await api.waitForInference(inferenceId, 120_000)).toMatchObject({
      status: 'COMPLETED',
      tasks_count_success: 1,
    });
    const log = await api.get(`/api/v2/tasks/${taskId}/logs/generic-python-processor`);
    // The step finished on the draining worker: it ran once.
    expect(log.text.match(/attempt \d+ started/g)).toEqual(['attempt 1 started']);
  }, 240_000);

  it('hands a step that outlasts the grace time over to another worker', async () => {
    const idle = workers[workers.length - 1]!;
    idle.kill('SIGTERM');
    expect(await exitCodeWithin(idle, 25_000)).toBe(0);

    const impatient = startWorker(1);
    const { inferenceId, taskId } = await startSlowInference(20);
    const signalled = Date.now();
    impatient.kill('SIGTERM');
    expect(await exitCodeWithin(impatient, 15_000)).toBe(0);
    startWorker(30);
    expect(await api.waitForInference(inferenceId, 180_000)).toMatchObject({
      status: 'COMPLETED',
      tasks_count_success: 1,
    });
    const log = await api.get(`/api/v2/tasks/${taskId}/logs/generic-python-processor`);
    expect(log.text.match(/attempt \d+ started/g)).toEqual(['attempt 1 started', 'attempt 2 started']);
    // The second attempt started soon after the shutdown, not only after the 30 s heartbeat timeout.
    expect(Date.now() - signalled).toBeLessThan(30_000 + 20_000);
  }, 300_000);
});
