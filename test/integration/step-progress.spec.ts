import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createProjectionActivities } from '../../activities/projection';
import type { ActivityDeps } from '../../activities/deps';
import { openDataSource } from '../../src/platform/database/data-source';
import { readInferenceEvents } from '../../src/platform/database/inference-events';
import { TasksRepository } from '../../src/platform/database/repositories/tasks.repository';
import type { PipelineStepState, TaskState } from '../../workflows/contract/types';
import { requiredEnv } from '../support/services';

const STEPS = ['terrakit-data-fetch', 'model-inference', 'push-to-geoserver'] as const;
const progress = (done: number) => ({ done, total: 8, unit: 'tiles', eta_seconds: 8 - done });

/** TasksRepository.setStepProgress on real PostgreSQL: only the step's progress changes, never a status. */
describe('step progress in the projection', () => {
  let dataSource: DataSource;
  let tasks: TasksRepository;
  let projection: ReturnType<typeof createProjectionActivities>;

  beforeAll(async () => {
    dataSource = await openDataSource(requiredEnv('DATABASE_URL'), 4);
    tasks = new TasksRepository(dataSource);
    projection = createProjectionActivities({ dataSource } as unknown as ActivityDeps);
  });

  afterAll(async () => {
    await dataSource?.destroy();
  });

  const steps = (statuses: Array<Partial<PipelineStepState>>): PipelineStepState[] =>
    STEPS.map((step, n) => ({ process_id: step, step_number: n, status: 'WAITING', ...statuses[n] }));

  async function createTask(statuses: Array<Partial<PipelineStepState>>): Promise<{ id: string; taskId: string }> {
    const modelId = randomUUID();
    const id = randomUUID();
    await dataSource.query(
      `INSERT INTO models (id, display_name, status, model_input_data_spec, file_key, file_name, file_sha256, file_size, created_by, owner)
       VALUES ($1, $2, 'READY', '{}', 'k', 'm.onnx', repeat('0', 64), 1, 'alice@example.com', 'alice@example.com')`,
      [modelId, `progress-${modelId}`],
    );
    await dataSource.query(
      `INSERT INTO inferences (id, model_id, model_display_name, spatial_domain, temporal_domain, status, workflow_id, created_by)
       VALUES ($1, $2, 'm', '{}', '[]', 'RUNNING', $3, 'alice@example.com')`,
      [id, modelId, id],
    );
    const taskId = `${id}-task-001`;
    await dataSource.query(
      `INSERT INTO inference_tasks (task_id, inference_id, task_index, input, status, pipeline_steps)
       VALUES ($1, $2, 0, '{}', 'RUNNING', $3)`,
      [taskId, id, JSON.stringify(steps(statuses))],
    );
    return { id, taskId };
  }

  const stored = async (taskId: string) => (await tasks.findById(taskId))!;

  it("sets only that step's progress, leaves the rest of the row as it was, and sends step.progress", async () => {
    const { id, taskId } = await createTask([{ status: 'FINISHED', result: { bytes: 1 } }, { status: 'RUNNING' }]);
    const before = await stored(taskId);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await tasks.setStepProgress(taskId, 'model-inference', progress(3))).toBe(true);
    const after = await stored(taskId);
    expect(after.pipelineSteps).toEqual(
      before.pipelineSteps.map((step) =>
        step.process_id === 'model-inference' ? { ...step, progress: progress(3) } : step,
      ),
    );
    expect(after.updatedAt).toEqual(before.updatedAt);
    expect(after.status).toBe('RUNNING');
    // A step that has ended, or one the task does not have, is left alone.
    expect(await tasks.setStepProgress(taskId, 'terrakit-data-fetch', progress(1))).toBe(false);
    expect(await tasks.setStepProgress(taskId, 'generic-python-processor', progress(1))).toBe(false);
    expect((await stored(taskId)).pipelineSteps).toEqual(after.pipelineSteps);

    const events = await readInferenceEvents(dataSource, id, 0, 100);
    expect(events.filter((event) => event.type === 'step.progress').map((event) => event.data)).toEqual([
      expect.objectContaining({ task_id: taskId, step_id: 'model-inference', step_number: 1, done: 3, total: 8 }),
    ]);
  });

  it('does not lose a status the workflow writes concurrently', async () => {
    const { taskId } = await createTask([{ status: 'FINISHED' }, { status: 'RUNNING' }]);
    // The workflow's projection write holds the row; the progress write waits for it, then applies on top.
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query(
        `UPDATE inference_tasks SET pipeline_steps = $2, status_message = 'meanwhile' WHERE task_id = $1`,
        [
          taskId,
          JSON.stringify(
            steps([
              { status: 'FINISHED', message: 'fetched' },
              { status: 'RUNNING', message: 'half way' },
            ]),
          ),
        ],
      );
      const writing = tasks.setStepProgress(taskId, 'model-inference', progress(4));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await runner.commitTransaction();
      expect(await writing).toBe(true);
    } finally {
      await runner.release();
    }
    const row = await stored(taskId);
    expect(row.statusMessage).toBe('meanwhile');
    expect(row.pipelineSteps).toEqual(
      steps([
        { status: 'FINISHED', message: 'fetched' },
        { status: 'RUNNING', message: 'half way', progress: progress(4) },
      ]),
    );

    // The step finishing concurrently: its FINISHED stays, the late progress is not written.
    const finisher = dataSource.createQueryRunner();
    await finisher.connect();
    try {
      await finisher.startTransaction();
      await finisher.query(`UPDATE inference_tasks SET pipeline_steps = $2 WHERE task_id = $1`, [
        taskId,
        JSON.stringify(steps([{ status: 'FINISHED' }, { status: 'FINISHED', progress: progress(8) }])),
      ]);
      const late = tasks.setStepProgress(taskId, 'model-inference', progress(5));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await finisher.commitTransaction();
      expect(await late).toBe(false);
    } finally {
      await finisher.release();
    }
    expect((await stored(taskId)).pipelineSteps[1]).toMatchObject({ status: 'FINISHED', progress: progress(8) });
  });

  it("keeps a step's progress through the workflow's projection writes, and drops it when the step starts again", async () => {
    const { taskId } = await createTask([{ status: 'FINISHED' }, { status: 'RUNNING' }]);
    await tasks.setStepProgress(taskId, 'model-inference', progress(8));
    const state = (statuses: Array<Partial<PipelineStepState>>, status: TaskState['status'] = 'RUNNING') =>
      ({ task_id: taskId, status, pipeline_steps: steps(statuses) }) as TaskState;
    await projection.recordTaskState({
      inferenceId: '',
      task: state([{ status: 'FINISHED' }, { status: 'FINISHED', result: { tiles: 8 } }, { status: 'RUNNING' }]),
    });
    expect((await stored(taskId)).pipelineSteps[1]).toEqual({
      process_id: 'model-inference',
      step_number: 1,
      status: 'FINISHED',
      result: { tiles: 8 },
      progress: progress(8),
    });
    await projection.recordTaskState({
      inferenceId: '',
      task: state([{ status: 'FINISHED' }, { status: 'FAILED', message: 'boom' }], 'FAILED'),
    });
    expect((await stored(taskId)).pipelineSteps[1]!.progress).toEqual(progress(8));
    // A retry runs the step again: the old count goes.
    await projection.recordTaskState({ inferenceId: '', task: state([{ status: 'FINISHED' }, { status: 'RUNNING' }]) });
    expect((await stored(taskId)).pipelineSteps[1]).not.toHaveProperty('progress');
  });
});
