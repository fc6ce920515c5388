import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { createProjectionActivities } from '../../activities/projection';
import type { ActivityDeps } from '../../activities/deps';
import { dataSourceOptions, MIGRATIONS, openDataSource } from '../../src/platform/database/data-source';
import { InferenceEvents1733100000000 } from '../../src/platform/database/migrations/1733100000000-inference-events';
import { EventNotifications } from '../../src/platform/database/event-notifications';
import { readInferenceEvents } from '../../src/platform/database/inference-events';
import type { PipelineStepState, TaskState } from '../../workflows/contract/types';
import { startPglite } from '../support/pglite';
import { requiredEnv } from '../support/services';

const STEPS = ['terrakit-data-fetch', 'model-inference', 'push-to-geoserver'] as const;

async function createInference(dataSource: DataSource, tasks: number): Promise<{ id: string; taskIds: string[] }> {
  const modelId = randomUUID();
  const id = randomUUID();
  await dataSource.query(
    `INSERT INTO models (id, display_name, status, model_input_data_spec, file_key, file_name, file_sha256, file_size, created_by, owner)
     VALUES ($1, $2, 'READY', '{}', 'k', 'm.onnx', repeat('0', 64), 1, 'alice@example.com', 'alice@example.com')`,
    [modelId, `events-${modelId}`],
  );
  await dataSource.query(
    `INSERT INTO inferences (id, model_id, model_display_name, spatial_domain, temporal_domain, status, workflow_id, created_by)
     VALUES ($1, $2, 'm', '{}', '[]', 'PENDING', $3, 'alice@example.com')`,
    [id, modelId, id],
  );
  const taskIds = Array.from({ length: tasks }, (_, index) => `${id}-task-${String(index + 1).padStart(3, '0')}`);
  for (const [index, taskId] of taskIds.entries()) {
    await dataSource.query(
      `INSERT INTO inference_tasks (task_id, inference_id, task_index, input, status, pipeline_steps)
       VALUES ($1, $2, $3, '{}', 'WAITING', $4)`,
      [
        taskId,
        id,
        index,
        JSON.stringify(STEPS.map((step, n) => ({ process_id: step, step_number: n, status: 'WAITING' }))),
      ],
    );
  }
  return { id, taskIds };
}

function task(taskId: string, status: TaskState['status'], steps: Array<Partial<PipelineStepState>>, extra = {}) {
  return {
    task_id: taskId,
    task_index: Number(taskId.slice(-3)) - 1,
    status,
    pipeline_steps: STEPS.map((step, n) => ({ process_id: step, step_number: n, status: 'WAITING', ...steps[n] })),
    ...extra,
  } as TaskState;
}

const summary = (events: Array<{ seq: number; type: string; data: Record<string, unknown> }>) =>
  events.map(({ seq, type, data }) => [seq, type, data.task_id ?? null, data.step_id ?? null, data.status ?? null]);

describe.each(['postgres', 'pglite'] as const)('inference events from the projection triggers (%s)', (engine) => {
  let dataSource: DataSource;
  let embedded: Awaited<ReturnType<typeof startPglite>> | undefined;
  let databaseUrl: string;
  let projection: ReturnType<typeof createProjectionActivities>;

  beforeAll(async () => {
    if (engine === 'pglite') {
      embedded = await startPglite();
      databaseUrl = embedded.url;
    } else {
      databaseUrl = requiredEnv('DATABASE_URL');
    }
    dataSource = await openDataSource(databaseUrl, 4);
    projection = createProjectionActivities({ dataSource } as unknown as ActivityDeps);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await embedded?.stop();
  });

  it('records status changes, progress and outputs in order, with seq 1, 2, 3, ... per inference', async () => {
    const { id, taskIds } = await createInference(dataSource, 2);
    const [a, b] = taskIds;
    await projection.recordInferenceState({ inferenceId: id, status: 'RUNNING', startedAt: new Date().toISOString() });
    await projection.recordTaskStates({
      inferenceId: id,
      tasks: [task(a, 'RUNNING', [{ status: 'RUNNING' }]), task(b, 'RUNNING', [{ status: 'RUNNING' }])],
    });
    // Rewriting the same state (a retried activity) adds nothing.
    await projection.recordTaskState({ inferenceId: id, task: task(a, 'RUNNING', [{ status: 'RUNNING' }]) });
    const progress = (done: number) => ({ done, total: 4, unit: 'tiles', eta_seconds: 4 - done });
    await dataSource.query(`UPDATE inference_tasks SET pipeline_steps = $2 WHERE task_id = $1`, [
      a,
      JSON.stringify(
        task(a, 'RUNNING', [{ status: 'FINISHED' }, { status: 'RUNNING', progress: progress(1) } as never])
          .pipeline_steps,
      ),
    ]);
    // The step's own last write (runtime/step-progress.ts) ...
    await dataSource.query(`UPDATE inference_tasks SET pipeline_steps = $2 WHERE task_id = $1`, [
      a,
      JSON.stringify(
        task(a, 'RUNNING', [{ status: 'FINISHED' }, { status: 'RUNNING', progress: progress(4) } as never])
          .pipeline_steps,
      ),
    ]);
    // ... is kept over the older count the workflow last had signalled.
    await projection.recordTaskState({
      inferenceId: id,
      task: task(
        a,
        'FINISHED',
        [{ status: 'FINISHED' }, { status: 'FINISHED', progress: progress(3) } as never, { status: 'FINISHED' }],
        { output_key: `inferences/${id}/a.tif` },
      ),
    });
    await projection.recordTaskState({
      inferenceId: id,
      task: task(b, 'FAILED', [{ status: 'FAILED', message: 'no such file' }], { message: 'data fetch failed' }),
    });
    await projection.recordInferenceState({ inferenceId: id, status: 'FAILED', message: '1 of 2 tasks failed' });

    const events = await readInferenceEvents(dataSource, id, 0, 100);
    expect(summary(events)).toEqual([
      [1, 'inference.status', null, null, 'PENDING'],
      [2, 'inference.status', null, null, 'RUNNING'],
      [3, 'task.status', a, null, 'RUNNING'],
      [4, 'step.status', a, 'terrakit-data-fetch', 'RUNNING'],
      [5, 'task.status', b, null, 'RUNNING'],
      [6, 'step.status', b, 'terrakit-data-fetch', 'RUNNING'],
      [7, 'step.status', a, 'terrakit-data-fetch', 'FINISHED'],
      [8, 'step.status', a, 'model-inference', 'RUNNING'],
      [9, 'step.progress', a, 'model-inference', null],
      [10, 'step.progress', a, 'model-inference', null],
      [11, 'step.status', a, 'model-inference', 'FINISHED'],
      [12, 'step.status', a, 'push-to-geoserver', 'FINISHED'],
      [13, 'task.output', a, null, null],
      [14, 'task.status', a, null, 'FINISHED'],
      [15, 'step.status', b, 'terrakit-data-fetch', 'FAILED'],
      [16, 'task.status', b, null, 'FAILED'],
      [17, 'inference.status', null, null, 'FAILED'],
      [18, 'inference.end', null, null, 'FAILED'],
    ]);
    expect(events[8].data).toEqual({
      task_id: a,
      step_id: 'model-inference',
      step_number: 1,
      done: 1,
      total: 4,
      unit: 'tiles',
      eta_seconds: 3,
    });
    expect(events[9].data).toMatchObject({ done: 4, total: 4 });
    expect(events[14].data).toMatchObject({ message: 'no such file', step_number: 0 });
    expect(events[15].data).toMatchObject({ message: 'data fetch failed' });
    expect(events[16].data).toEqual({ status: 'FAILED', message: '1 of 2 tasks failed' });
    expect(events[12].data).toEqual({ task_id: a });
    expect(await readInferenceEvents(dataSource, id, 16, 100)).toHaveLength(2);
  });

  it('numbers the events of concurrent writers without gaps or duplicates', async () => {
    const { id, taskIds } = await createInference(dataSource, 12);
    await Promise.all(
      taskIds.map(async (taskId) => {
        await projection.recordTaskState({ inferenceId: id, task: task(taskId, 'RUNNING', [{ status: 'RUNNING' }]) });
        await projection.recordTaskState({
          inferenceId: id,
          task: task(taskId, 'FINISHED', [{ status: 'FINISHED' }, { status: 'FINISHED' }, { status: 'FINISHED' }], {
            output_key: `k/${taskId}`,
          }),
        });
      }),
    );
    const events = await readInferenceEvents(dataSource, id, 0, 1000);
    // 1 PENDING + per task: RUNNING, step RUNNING, 3 step FINISHED, output, FINISHED.
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 1 + 12 * 7 }, (_, index) => index + 1));
    for (const taskId of taskIds) {
      const own = events.filter((event) => event.data.task_id === taskId).map((event) => event.type);
      expect(own).toEqual([
        'task.status',
        'step.status',
        'step.status',
        'step.status',
        'step.status',
        'task.output',
        'task.status',
      ]);
    }
  });

  it('deletes the events with their inference', async () => {
    const { id } = await createInference(dataSource, 1);
    await dataSource.query('DELETE FROM inferences WHERE id = $1', [id]);
    expect(await readInferenceEvents(dataSource, id, 0, 10)).toEqual([]);
  });

  it(
    engine === 'postgres'
      ? 'notifies listeners with "<inference id> <last seq>" when the write commits'
      : 'falls back to polling: notifications never reach a listening connection through pglite-socket',
    async () => {
      const notifications: Array<[string, number]> = [];
      const listener = new EventNotifications({
        databaseUrl,
        notify: async (channel, payload) => {
          await dataSource.query('SELECT pg_notify($1, $2)', [channel, payload]);
        },
        onEvent: (inferenceId, seq) => notifications.push([inferenceId, seq]),
        onListening: () => undefined,
        logger: { log: () => undefined, warn: () => undefined },
        probeTimeoutMs: 1500,
      });
      listener.start();
      const deadline = Date.now() + 10_000;
      while (listener.mode === 'starting' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      try {
        if (engine === 'pglite') {
          expect(listener.mode).toBe('poll');
          return;
        }
        expect(listener.mode).toBe('listen');
        const { id, taskIds } = await createInference(dataSource, 1);
        await projection.recordTaskState({
          inferenceId: id,
          task: task(taskIds[0], 'RUNNING', [{ status: 'RUNNING' }]),
        });
        while (notifications.filter(([inference]) => inference === id).length < 2 && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        expect(notifications.filter(([inference]) => inference === id)).toEqual([
          [id, 1],
          [id, 3],
        ]);
      } finally {
        await listener.stop();
      }
    },
  );
});

describe('inference events of inferences from before the migration', () => {
  it('backfills their status, outputs and end so their streams replay and close', async () => {
    const embedded = await startPglite();
    const before = MIGRATIONS.filter((migration) => migration !== InferenceEvents1733100000000);
    const dataSource = new DataSource({ ...dataSourceOptions(embedded.url, 2), migrations: before });
    try {
      await dataSource.initialize();
      await dataSource.runMigrations();
      const { id, taskIds } = await createInference(dataSource, 3);
      await dataSource.query(`UPDATE inference_tasks SET output_key = 'k', status = 'FINISHED' WHERE task_id = $1`, [
        taskIds[1],
      ]);
      await dataSource.query(`UPDATE inferences SET status = 'COMPLETED' WHERE id = $1`, [id]);
      const running = await createInference(dataSource, 1);

      dataSource.setOptions({ migrations: MIGRATIONS });
      await dataSource.destroy();
      await dataSource.initialize();
      await dataSource.runMigrations();
      const summary = async (inferenceId: string) =>
        (await readInferenceEvents(dataSource, inferenceId, 0, 10)).map(({ seq, type, data }) => ({ seq, type, data }));
      expect(await summary(id)).toEqual([
        { seq: 1, type: 'inference.status', data: { status: 'COMPLETED', message: null } },
        { seq: 2, type: 'task.output', data: { task_id: taskIds[1] } },
        { seq: 3, type: 'inference.end', data: { status: 'COMPLETED' } },
      ]);
      expect(await summary(running.id)).toEqual([
        { seq: 1, type: 'inference.status', data: { status: 'PENDING', message: null } },
      ]);
      // New events continue after the backfilled ones.
      await dataSource.query(`UPDATE inferences SET status = 'RUNNING' WHERE id = $1`, [running.id]);
      expect((await summary(running.id)).map((event) => event.seq)).toEqual([1, 2]);
    } finally {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded.stop();
    }
  });
});
