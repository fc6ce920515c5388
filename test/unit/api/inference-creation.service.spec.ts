import { Logger } from '@nestjs/common';
import { createInferenceSchema } from '../../../src/api/inferences/inferences.dto';
import { ApiError } from '../../../src/api/http/api-error';
import { STEP_IDS } from '../../../workflows/contract/status';
import { removeTestDirs } from './fakes';
import { inferenceServices } from './services';

const ALICE = 'alice@example.com';

function request(fields: Record<string, unknown> = {}) {
  return createInferenceSchema.parse({
    model_display_name: 'tiny',
    spatial_domain: { urls: ['https://example.com/a.tif', 'https://example.com/b.tif'] },
    temporal_domain: [],
    ...fields,
  });
}

describe('InferenceCreationService', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(removeTestDirs);

  it('stores the inference PENDING with one WAITING task per input, then starts its workflow', async () => {
    const services = await inferenceServices();
    const model = services.models.seed();

    const view = await services.creation.create(request({ description: 'two scenes' }), ALICE);

    expect(view).toMatchObject({
      model_id: model.id,
      model_display_name: 'tiny',
      description: 'two scenes',
      status: 'PENDING',
      tasks_count_total: 2,
      tasks_count_waiting: 2,
      workflow_id: view.id,
      created_by: ALICE,
      coco_url: null,
    });
    expect(services.inferences.rows.get(view.id)).toMatchObject({ status: 'PENDING', createdBy: ALICE });
    const tasks = await services.tasks.listFor(view.id);
    expect(tasks.map((task) => [task.taskId, task.status, task.input])).toEqual([
      [`${view.id}-task-001`, 'WAITING', { kind: 'url', url: 'https://example.com/a.tif' }],
      [`${view.id}-task-002`, 'WAITING', { kind: 'url', url: 'https://example.com/b.tif' }],
    ]);
    const steps = [STEP_IDS.dataFetch, STEP_IDS.modelInference, STEP_IDS.pushToGeoserver];
    expect(tasks[0].pipelineSteps).toEqual(
      steps.map((step, index) => ({ process_id: step, step_number: index, status: 'WAITING' })),
    );

    expect(services.pipeline.started).toHaveLength(1);
    const [run] = services.pipeline.started;
    expect(run.workflowId).toBe(view.id);
    expect(run.createdBy).toBe(ALICE);
    expect(run.input).toMatchObject({ inferenceId: view.id, modelId: model.id, steps, webhook: undefined });
    expect(run.input.tasks.map((task) => task.task_id)).toEqual(tasks.map((task) => task.taskId));
    expect(run.input.resume).toBeUndefined();
  });

  it('plans the generic processor step before the push when the request names a processor', async () => {
    const services = await inferenceServices();
    services.models.seed();
    const processor = await services.processors.create({
      id: '00000000-0000-4000-8000-0000000000aa',
      name: 'invert',
      description: null,
      processorParameters: { threshold: 1 },
      status: 'FINISHED',
      fileName: 'invert.py',
      fileKey: 'processors/invert.py',
      fileSha256: '0'.repeat(64),
      fileSize: 10,
      createdBy: ALICE,
    });

    const view = await services.creation.create(request({ generic_processor_id: processor.id }), ALICE);

    const [run] = services.pipeline.started;
    expect(run.input.steps).toEqual([
      STEP_IDS.dataFetch,
      STEP_IDS.modelInference,
      STEP_IDS.genericProcessor,
      STEP_IDS.pushToGeoserver,
    ]);
    expect(run.input.processor).toEqual({
      id: processor.id,
      name: 'invert',
      file_key: 'processors/invert.py',
      file_name: 'invert.py',
      parameters: { threshold: 1 },
      style: 'script',
      user: 'alice@example.com',
    });
    expect(view.generic_processor_id).toBe(processor.id);
  });

  it('removes the inference and its tasks again and answers 503 when the workflow cannot be started', async () => {
    const services = await inferenceServices();
    services.models.seed();
    services.pipeline.startFailure = new Error('14 UNAVAILABLE: connection refused');

    const failure = await services.creation.create(request(), ALICE).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).getStatus()).toBe(503);
    expect((failure as ApiError).getResponse()).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'the workflow service is unavailable, inference not created: 14 UNAVAILABLE: connection refused',
      details: { dependency: 'temporal', retry_after_seconds: 5 },
    });
    expect(services.inferences.rows.size).toBe(0);
    expect(services.tasks.rows.size).toBe(0);
  });

  it('refuses a model that is not READY before writing anything', async () => {
    const services = await inferenceServices();
    services.models.seed({ status: 'FAILED' });

    const failure = await services.creation.create(request(), ALICE).catch((error: unknown) => error);

    expect((failure as ApiError).getStatus()).toBe(422);
    expect(services.inferences.rows.size).toBe(0);
    expect(services.pipeline.started).toHaveLength(0);
  });
});
