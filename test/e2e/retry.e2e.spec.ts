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

/** Retry from the REST API, and a Temporal Web UI-style reset, both followed by the REST status. */
describe('retrying failed work', () => {
  let stack: TestStack;
  let api: ApiClient;
  let temporal: Client;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelId: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-retry-'));
    await makeSampleGeoTiff(path.join(workDir, 'tile.tif'), 256, 21);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio' });
    api = new ApiClient(stack.baseUrl);
    temporal = new Client({ connection: await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }) });
    modelId = (
      await api.registerModel(
        demoModelMetadata(demoModelPaths().meta, `csmask-retry-${Date.now()}`),
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

  it('POST /retry reruns only the failed task, keeping the finished one as it was', async () => {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('tile.tif'), fixtures.url('late.tif')] },
      temporal_domain: [],
    });
    const id = created.body.id;
    expect((await api.waitForInference(id)).status).toBe('FAILED');
    expect((await api.post(`/api/v2/inference/${id}/retry`, {})).status).toBe(202);
    // Retrying a retry that is running is refused; wait for it to end first.
    const before = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
    const rerunFailedAgain = await api.waitForInference(
      id,
      120_000,
      (body) => body.status === 'FAILED' && body.retries === 1,
    );
    expect(rerunFailedAgain.tasks_count_success).toBe(1);

    fs.copyFileSync(path.join(workDir, 'tile.tif'), path.join(workDir, 'late.tif'));
    const retried = await api.post(`/api/v2/inference/${id}/retry`, {});
    expect(retried.status).toBe(202);
    expect(retried.body.tasks_to_rerun).toBe(1);
    const finished = await api.waitForInference(
      id,
      120_000,
      (body) => body.retries === 2 && ['COMPLETED', 'FAILED'].includes(body.status),
    );
    expect(finished).toMatchObject({ status: 'COMPLETED', tasks_count_success: 2, tasks_count_failed: 0, retries: 2 });
    const after = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
    // The task that had finished was not run again: same step timestamps as before the retries.
    expect(after[0].pipeline_steps).toEqual(before[0].pipeline_steps);
    expect(after[1].status).toBe('FINISHED');
    expect((await api.get(`/api/v2/tasks/${after[1].task_id}/output-url`)).status).toBe(200);
    expect((await api.post(`/api/v2/inference/${id}/retry`, {})).status).toBe(409);
  });

  it('a reset of the failed workflow (as the Web UI does) reruns it and the REST status follows', async () => {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('reset.tif')] },
      temporal_domain: [],
    });
    const id = created.body.id;
    expect((await api.waitForInference(id)).status).toBe('FAILED');
    fs.copyFileSync(path.join(workDir, 'tile.tif'), path.join(workDir, 'reset.tif'));
    const handle = temporal.workflow.getHandle(id);
    const history = await handle.fetchHistory();
    const firstWorkflowTask = history.events?.find((event) => event.workflowTaskCompletedEventAttributes);
    await temporal.workflowService.resetWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: id },
      reason: 'rerun after the input was fixed',
      workflowTaskFinishEventId: firstWorkflowTask!.eventId,
      requestId: `reset-${id}`,
    });
    const finished = await api.waitForInference(id, 120_000, (body) => body.status === 'COMPLETED');
    expect(finished.tasks_count_success).toBe(1);
  });
});
