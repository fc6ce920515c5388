import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { demoModelMetadata } from '../../scripts/demo-model';
import { INFERENCE_STATUS_QUERY, type InferenceWorkflowState } from '../../workflows/contract/types';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths } from '../support/services';
import { collectWithEventSource, type SseMessage } from '../support/sse';
import { startTestStack, USERS, type TestStack } from '../support/stack';

/**
 * A real inference's steps report progress into the projection: the model step over a scene of several tile
 * batches sends `step.progress` events (tiles), the download its bytes, and GET .../tasks shows them.
 */
describe('step progress of a real inference (SSE and GET .../tasks)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelId: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-progress-'));
    // 1024 x 1024 with 256-pixel tiles overlapping by 32: 25 tiles, 7 batches of INFERENCE_BATCH_SIZE 4.
    await makeSampleGeoTiff(path.join(workDir, 'large.tif'), 1024, 11);
    fixtures = await startFixtureServer(workDir);
    // Every batch is written and signalled (no throttle), so the test sees each count however fast the model runs.
    stack = await startTestStack({
      storage: 'minio',
      env: { STEP_PROGRESS_INTERVAL_MS: '0', STEP_PROGRESS_SIGNAL_INTERVAL_MS: '0' },
    });
    api = new ApiClient(stack.baseUrl);
    const registered = await api.registerModel(
      demoModelMetadata(demoModelPaths().meta, `csmask-progress-${Date.now()}`),
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

  it('streams increasing tile counts with the right total, then the final statuses in order', async () => {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('large.tif')] },
      temporal_domain: ['2024-06-15'],
    });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    const { source, messages, closed } = collectWithEventSource(
      `${stack.baseUrl}/api/v2/inference/${id}/events`,
      USERS.alice.key,
    );
    // GET .../tasks while the model runs: a running step shows its projected progress; and the workflow's own
    // query (signalled by the step) too.
    const running: unknown[] = [];
    const queried: unknown[] = [];
    const temporal = new Client({ connection: await Connection.connect({ address: stack.config.TEMPORAL_ADDRESS! }) });
    const workflowId: string = (await api.get(`/api/v2/inference/${id}`)).body.workflow_id;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const tasks = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks ?? [];
        for (const task of tasks)
          for (const step of task.pipeline_steps)
            if (step.process_id === 'model-inference' && step.status === 'RUNNING' && step.progress)
              running.push(step.progress);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const pollQuery = (async () => {
      while (polling) {
        const state = await temporal.workflow
          .getHandle(workflowId)
          .query<InferenceWorkflowState>(INFERENCE_STATUS_QUERY)
          .catch(() => undefined);
        for (const task of state?.tasks ?? [])
          for (const step of task.pipeline_steps)
            if (step.process_id === 'model-inference' && step.status === 'RUNNING' && step.progress)
              queried.push(step.progress);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    try {
      await closed;
    } finally {
      source.close();
      polling = false;
      await Promise.all([poll, pollQuery]);
      await temporal.connection.close();
    }

    expect(messages.map((message) => Number(message.id))).toEqual(messages.map((_, index) => index + 1));
    expect(messages.at(-1)).toMatchObject({ event: 'inference.end', data: { status: 'COMPLETED' } });
    expect(
      messages.filter((message) => message.event === 'inference.status').map((message) => message.data.status),
    ).toEqual(['PENDING', 'RUNNING', 'COMPLETED']);

    const [task] = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
    const own = messages.filter((message) => message.data.task_id === task.task_id);
    const stepEvents = (stepId: string) => own.filter((message: SseMessage) => message.data.step_id === stepId);
    const model = stepEvents('model-inference');
    const tiles = model.filter((message) => message.event === 'step.progress').map((message) => message.data);
    const modelResult = task.pipeline_steps.find(
      (step: { process_id: string }) => step.process_id === 'model-inference',
    );
    expect(modelResult.result.tiles).toBe(25);
    expect(tiles.length).toBeGreaterThanOrEqual(3);
    for (const progress of tiles) expect(progress).toMatchObject({ step_number: 1, total: 25, unit: 'tiles' });
    const done = tiles.map((progress) => progress.done);
    expect(done).toEqual([...done].sort((a, b) => a - b));
    expect(new Set(done).size).toBe(done.length);
    expect(done.at(-1)).toBe(25);
    expect(tiles.at(-1)!.eta_seconds).toBe(0);
    // Progress falls between the step's RUNNING and its FINISHED.
    expect(model.map((message) => message.data.status ?? message.event)).toEqual([
      'RUNNING',
      ...tiles.map(() => 'step.progress'),
      'FINISHED',
    ]);

    // The download reports its bytes; the file is served with a Content-Length, so the total is known.
    const fetchStep = task.pipeline_steps.find(
      (step: { process_id: string }) => step.process_id === 'terrakit-data-fetch',
    );
    const bytes = stepEvents('terrakit-data-fetch').filter((message) => message.event === 'step.progress');
    expect(bytes.at(-1)!.data).toMatchObject({
      done: fetchStep.result.bytes,
      total: fetchStep.result.bytes,
      unit: 'bytes',
    });

    // The task's own statuses, its output and the end still come in order after the progress.
    const types = own.map((message) => `${message.event}:${message.data.status ?? ''}`);
    expect(types[0]).toBe('task.status:RUNNING');
    expect(types.slice(-2)).toEqual(['task.output:', 'task.status:FINISHED']);

    // GET .../tasks keeps each step's last count after the run, and showed it while the model ran.
    expect(modelResult.progress).toEqual({ done: 25, total: 25, unit: 'tiles', eta_seconds: 0 });
    expect(fetchStep.progress).toMatchObject({ done: fetchStep.result.bytes, unit: 'bytes' });
    expect(running.length).toBeGreaterThan(0);
    expect(running[0]).toMatchObject({ total: 25, unit: 'tiles' });
    // The workflow query showed the running step's count with its ETA (a number once the rate is known).
    expect(queried.length).toBeGreaterThan(0);
    for (const progress of queried as Array<{ done: number; eta_seconds: number | null }>) {
      expect(progress).toMatchObject({ total: 25, unit: 'tiles' });
      expect(progress.eta_seconds === null || progress.eta_seconds >= 0).toBe(true);
    }
    expect(queried.some((progress) => typeof (progress as { eta_seconds: unknown }).eta_seconds === 'number')).toBe(
      true,
    );

    // The execution provider that ran the model: in the step result and its log (CPU here unless CUDA is installed).
    expect(['cpu', 'cuda']).toContain(modelResult.result.execution_provider);
    const log = await api.get(`/api/v2/tasks/${task.task_id}/logs/model-inference`);
    expect(log.text).toContain(`execution provider ${modelResult.result.execution_provider}`);
    expect(log.text).toContain(`tiles on ${modelResult.result.execution_provider}`);
  });
});
