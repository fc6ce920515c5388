import { Logger } from '@nestjs/common';
import { ApiError } from '../../../src/api/http/api-error';
import { LIVE_QUERY_TIMEOUT_MS } from '../../../src/api/inferences/inferences.service';
import type { InferenceWorkflowState } from '../../../workflows/contract/types';
import { removeTestDirs } from './fakes';
import { inferenceServices } from './services';

const ALICE = 'alice@example.com';
const ID = '6f1c2b1e-3f0a-4c1e-9a57-2d6c3e8b9f10';

/** An inference RUNNING in the database whose first task the workflow has already finished. */
async function runningInference() {
  const services = await inferenceServices();
  services.inferences.seed({ id: ID, status: 'PENDING' });
  const first = services.tasks.seed({ inferenceId: ID, taskIndex: 0, status: 'RUNNING' });
  const second = services.tasks.seed({ inferenceId: ID, taskIndex: 1, status: 'WAITING' });
  const live: InferenceWorkflowState = {
    inference_id: ID,
    status: 'RUNNING',
    tasks: [
      {
        task_id: first.taskId,
        task_index: 0,
        status: 'FINISHED',
        output_key: `inferences/${ID}/task-001/output.tif`,
        pipeline_steps: first.pipelineSteps.map((step) => ({
          ...step,
          status: 'FINISHED',
          result: { step: step.process_id },
        })),
      },
    ],
  };
  return { services, first, second, live };
}

describe('InferencesService', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(removeTestDirs);

  it("merges the workflow's live state into the tasks of a running inference", async () => {
    const { services, first, second, live } = await runningInference();
    services.pipeline.liveStates.set(ID, live);

    const answer = await services.reading.tasksOf(ID, ALICE);

    expect(services.pipeline.queries).toEqual([{ workflowId: ID, timeoutMs: LIVE_QUERY_TIMEOUT_MS }]);
    expect(answer.status).toBe('RUNNING');
    expect(answer.total_records).toBe(2);
    const [done, waiting] = answer.tasks;
    expect(done).toMatchObject({
      task_id: first.taskId,
      status: 'FINISHED',
      output_key: live.tasks[0].output_key,
      pipeline_steps: live.tasks[0].pipeline_steps,
      outputs: Object.fromEntries(first.pipelineSteps.map((step) => [step.process_id, { step: step.process_id }])),
      tile_url_template: expect.stringContaining(`/tiles/${first.taskId}/{z}/{x}/{y}.png?token=`),
    });
    // A task the live state does not name keeps its row.
    expect(waiting).toMatchObject({
      task_id: second.taskId,
      status: 'WAITING',
      outputs: {},
      tile_url_template: null,
      map_url: null,
    });
  });

  it("keeps the projected progress of a running step when the workflow's live steps lack it", async () => {
    const { services, first, live } = await runningInference();
    const progress = { done: 3, total: 12, unit: 'tiles', eta_seconds: 9 };
    await services.tasks.setStepProgress(first.taskId, 'model-inference', progress);
    live.tasks[0]!.status = 'RUNNING';
    live.tasks[0]!.pipeline_steps = first.pipelineSteps.map((step, n) => ({
      process_id: step.process_id,
      step_number: step.step_number,
      status: n === 0 ? 'FINISHED' : n === 1 ? 'RUNNING' : 'WAITING',
    }));
    services.pipeline.liveStates.set(ID, live);

    const [task] = (await services.reading.tasksOf(ID, ALICE)).tasks;

    expect(task!.pipeline_steps).toEqual([
      { process_id: 'terrakit-data-fetch', step_number: 0, status: 'FINISHED' },
      { process_id: 'model-inference', step_number: 1, status: 'RUNNING', progress },
      { process_id: 'push-to-geoserver', step_number: 2, status: 'WAITING' },
    ]);
  });

  it('serves the database projection when the live query times out', async () => {
    const { services, first } = await runningInference();

    const answer = await services.reading.tasksOf(ID, ALICE);

    expect(services.pipeline.queries).toHaveLength(1);
    expect(answer.status).toBe('PENDING');
    expect(answer.tasks.map((task) => task.status)).toEqual(['RUNNING', 'WAITING']);
    expect(answer.tasks[0].pipeline_steps).toEqual(first.pipelineSteps);
  });

  it('does not query the workflow of an ended inference', async () => {
    const services = await inferenceServices();
    services.inferences.seed({ id: ID, status: 'COMPLETED' });
    services.tasks.seed({ inferenceId: ID, taskIndex: 0, status: 'FINISHED', outputKey: 'out.tif' });

    const answer = await services.reading.tasksOf(ID, ALICE);

    expect(services.pipeline.queries).toEqual([]);
    expect(answer).toMatchObject({ status: 'COMPLETED', tasks: [{ status: 'FINISHED', output_key: 'out.tif' }] });
  });

  it('counts the tasks of one inference from the database, without asking the workflow', async () => {
    const { services } = await runningInference();

    expect(await services.reading.get(ID, ALICE)).toMatchObject({
      id: ID,
      status: 'PENDING',
      tasks_count_total: 2,
      tasks_count_running: 1,
      tasks_count_waiting: 2,
    });
    expect(services.pipeline.queries).toEqual([]);
  });

  it("answers 404 for another user's inference and 403 for listing another user's", async () => {
    const { services } = await runningInference();

    const notFound = await services.reading.get(ID, 'bob@example.com').catch((error: unknown) => error);
    expect((notFound as ApiError).getStatus()).toBe(404);
    const forbidden = await services.reading
      .list({ limit: 10, offset: 0, created_by: 'bob@example.com' }, ALICE)
      .catch((error: unknown) => error);
    expect((forbidden as ApiError).getStatus()).toBe(403);
    expect(await services.reading.list({ limit: 10, offset: 0 }, ALICE)).toMatchObject({
      total_records: 1,
      results: [{ id: ID, tasks_count_total: 2 }],
    });
  });
});
