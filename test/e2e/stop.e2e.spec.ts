import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths, requiredEnv } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';

/** Stop = workflow cancellation: the running model step is cancelled through its heartbeats. */
describe('stopping a running inference', () => {
  let stack: TestStack;
  let api: ApiClient;
  let temporal: Client;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelId: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-stop-'));
    await makeSampleGeoTiff(path.join(workDir, 'scene.tif'), 1536, 5);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio' });
    api = new ApiClient(stack.baseUrl);
    temporal = new Client({ connection: await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }) });
    modelId = (
      await api.registerModel(
        demoModelMetadata(demoModelPaths().meta, `csmask-stop-${Date.now()}`),
        demoModelPaths().model,
      )
    ).body.id;
  });

  afterAll(async () => {
    await temporal?.connection.close();
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('ends STOPPED with unfinished tasks and steps STOPPED, and cancels the running activity', async () => {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('scene.tif'), fixtures.url('scene.tif')] },
      temporal_domain: [],
    });
    const id = created.body.id;
    await api.waitForInference(
      id,
      120_000,
      (body) => body.tasks_count_running > 0 || ['COMPLETED', 'FAILED', 'STOPPED'].includes(body.status),
    );
    // Give the model step time to start on the first task.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const tasks = await api.get(`/api/v2/inference/${id}/tasks`);
      if (
        tasks.body.tasks.some(
          (task: { pipeline_steps: Array<{ process_id: string; status: string }> }) =>
            task.pipeline_steps[1].status === 'RUNNING',
        )
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const stopRequested = Date.now();
    const stop = await api.post(`/api/v2/inference/${id}/stop`, {});
    expect(stop.status).toBe(202);
    const finished = await api.waitForInference(id, 60_000);
    const stopSeconds = (Date.now() - stopRequested) / 1000;
    expect(finished).toMatchObject({
      status: 'STOPPED',
      tasks_count_total: 2,
      tasks_count_stopped: 2,
      tasks_count_waiting: 0,
    });
    expect(stopSeconds).toBeLessThan(20);

    const tasks = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
    for (const task of tasks) {
      expect(task.status).toBe('STOPPED');
      expect(task.pipeline_steps[1]).toMatchObject({
        process_id: 'model-inference',
        status: 'STOPPED',
        message: 'inference stopped',
      });
      expect(task.pipeline_steps[2].status).toBe('STOPPED');
    }
    const history = await temporal.workflow.getHandle(id).fetchHistory();
    expect(history.events?.some((event) => event.activityTaskCanceledEventAttributes)).toBe(true);
    expect((await temporal.workflow.getHandle(id).describe()).status.name).toBe('CANCELLED');

    const again = await api.post(`/api/v2/inference/${id}/stop`, {});
    expect(again.status).toBe(409);
  });
  it('stops a task whose download the stop aborts: the fetch step ends STOPPED, not FAILED', async () => {
    // Answers headers and a first chunk, then holds the rest until the client goes away.
    const held = http.createServer((_request, response) => {
      response.writeHead(200, { 'Content-Type': 'image/tiff', 'Content-Length': String(10 * 1024 * 1024) });
      response.write(Buffer.alloc(64 * 1024));
    });
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(held.address() as AddressInfo).port}/held.tif`;
      const created = await api.post('/api/v2/inference', {
        model_id: modelId,
        spatial_domain: { urls: [url] },
        temporal_domain: [],
      });
      expect(created.status).toBe(201);
      const id = created.body.id;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const tasks = await api.get(`/api/v2/inference/${id}/tasks`);
        if (tasks.body.tasks[0]?.pipeline_steps[0].status === 'RUNNING') break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect((await api.post(`/api/v2/inference/${id}/stop`, {})).status).toBe(202);
      const finished = await api.waitForInference(id, 60_000);
      expect(finished).toMatchObject({ status: 'STOPPED', tasks_count_stopped: 1, tasks_count_failed: 0 });
      const [task] = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
      expect(task.pipeline_steps[0]).toMatchObject({ process_id: 'terrakit-data-fetch', status: 'STOPPED' });
    } finally {
      held.closeAllConnections();
      await new Promise((resolve) => held.close(resolve));
    }
  });
});
