import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { PipelineActivities } from '../../activities';
import { runGroupItems } from '../../activities/runtime/step-group';
import { STEP_IDS } from '../../workflows/contract/status';
import {
  STEP_PROGRESS_SIGNAL,
  type InferenceWorkflowInput,
  type InferenceWorkflowState,
} from '../../workflows/contract/types';
import { requiredEnv } from '../support/services';
import { sharedWorkflowBundle } from '../support/stack';

/**
 * Orchestration semantics of the inference workflow on the real Temporal dev server. Activities here are
 * scripted stand-ins (the real ones are covered end to end), so each outcome can be forced.
 */
describe('inference workflow orchestration', () => {
  let connection: NativeConnection;
  let client: Client;
  const projections: Array<{ kind: string; status: string; taskId?: string }> = [];

  /** The grouped activities of `single`, as the real ones are built: the shared group runner over the per-task bodies. */
  function withGroups(
    single: Omit<
      PipelineActivities,
      'fetchTaskInputs' | 'runModelInferences' | 'runGenericProcessors' | 'pushToGeoservers' | 'recordTaskStates'
    >,
  ): PipelineActivities {
    return {
      ...single,
      async fetchTaskInputs(request) {
        return runGroupItems(request.items, 4, (item) =>
          single.fetchTaskInput({
            inferenceId: request.inferenceId,
            workflowId: request.workflowId,
            taskId: item.taskId,
            input: item.input,
          }),
        );
      },
      async runModelInferences(request) {
        return runGroupItems(request.items, 4, (item) =>
          single.runModelInference({
            inferenceId: request.inferenceId,
            workflowId: request.workflowId,
            modelId: request.modelId,
            taskId: item.taskId,
            inputKey: item.inputKey,
          }),
        );
      },
      async runGenericProcessors(request) {
        return runGroupItems(request.items, 4, (item) =>
          single.runGenericProcessor({
            inferenceId: request.inferenceId,
            workflowId: request.workflowId,
            processor: request.processor,
            taskId: item.taskId,
            inputKey: item.inputKey,
          }),
        );
      },
      async pushToGeoservers(request) {
        return runGroupItems(request.items, 4, (item) =>
          single.pushToGeoserver({
            inferenceId: request.inferenceId,
            workflowId: request.workflowId,
            modelId: request.modelId,
            taskId: item.taskId,
            rasterKey: item.rasterKey,
          }),
        );
      },
      async recordTaskStates({ inferenceId, tasks }) {
        projections.push({ kind: 'tasks', status: tasks.map((task) => task.status).join(',') });
        for (const task of tasks) await single.recordTaskState({ inferenceId, task });
      },
    };
  }

  function scriptedActivities(behaviour: {
    failUrl?: string;
    /** Tasks whose id ends so get a model-inference result with warnings (input guardrails). */
    warnTaskSuffix?: string;
    blockInference?: boolean;
    slowExport?: boolean;
    /** The COCO export finds a regression model: nothing to export, with the reason. */
    cocoSkipped?: string;
  }): PipelineActivities {
    return withGroups({
      async fetchTaskInput(request) {
        if (request.input.kind === 'url' && request.input.url === behaviour.failUrl) {
          throw ApplicationFailure.create({
            message: 'the downloaded file is not a readable GeoTIFF',
            type: 'InvalidInputError',
            nonRetryable: true,
          });
        }
        return { inputKey: `in/${request.taskId}`, bytes: 1, width: 1, height: 1, bands: 6, epsg: 32633 };
      },
      async runModelInference(request) {
        if (behaviour.blockInference) {
          // Heartbeat until cancelled, as the real step does between tile batches.
          for (;;) {
            Context.current().heartbeat();
            await Context.current().sleep(100);
          }
        }
        return {
          outputKey: `out/${request.taskId}`,
          width: 1,
          height: 1,
          tiles: 1,
          execution_provider: 'cpu',
          class_pixel_counts: {},
          ...(behaviour.warnTaskSuffix && request.taskId.endsWith(behaviour.warnTaskSuffix)
            ? { warnings: ['input guardrails: 80% of the input is nodata (more than 50%)'] }
            : {}),
        };
      },
      async runGenericProcessor(request) {
        return { outputKey: `processed/${request.taskId}`, exit_code: 0, duration_ms: 1, result: null };
      },
      async pushToGeoserver(request) {
        return { publisher: 'builtin', workspace: 'ws', layer_name: request.taskId, raster_key: request.rasterKey };
      },
      async recordTaskState({ task }) {
        projections.push({ kind: 'task', status: task.status, taskId: task.task_id });
      },
      async recordInferenceState(request) {
        projections.push({ kind: 'inference', status: request.status });
      },
      async deliverWebhook() {
        return { delivered: true, attempts: 1, status_code: 204 };
      },
      async exportCoco(request) {
        if (behaviour.slowExport) {
          projections.push({ kind: 'coco', status: 'STARTED', taskId: request.inferenceId });
          await new Promise((resolve) => setTimeout(resolve, 1500));
        }
        if (behaviour.cocoSkipped) return { cocoKey: '', images: 0, annotations: 0, skipped: behaviour.cocoSkipped };
        projections.push({ kind: 'coco', status: 'EXPORTED', taskId: request.inferenceId });
        return { cocoKey: `inferences/${request.inferenceId}/coco.json`, images: 3, annotations: 7 };
      },
      async exportResults(request) {
        projections.push({ kind: 'results', status: 'EXPORTED', taskId: request.inferenceId });
        return { collectionKey: `inferences/${request.inferenceId}/collection.json`, items: 3, features: 9 };
      },
    });
  }

  async function withWorker<T>(activities: PipelineActivities, body: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = `wf-${randomUUID().slice(0, 8)}`;
    const worker = await Worker.create({
      connection,
      taskQueue,
      workflowBundle: await sharedWorkflowBundle(),
      activities,
      maxHeartbeatThrottleInterval: '1 second',
    });
    return worker.runUntil(body(taskQueue));
  }

  function input(urls: string[]): InferenceWorkflowInput {
    const inferenceId = randomUUID();
    return {
      inferenceId,
      modelId: randomUUID(),
      steps: [STEP_IDS.dataFetch, STEP_IDS.modelInference, STEP_IDS.pushToGeoserver],
      taskConcurrency: 2,
      tasks: urls.map((url, index) => ({
        task_id: `${inferenceId}-task-00${index + 1}`,
        task_index: index,
        input: { kind: 'url', url },
      })),
    };
  }

  // Histories recorded from earlier versions of the workflow (RECORD_HISTORIES=1 refreshes them all,
  // RECORD_HISTORIES=name,... only those: old ones must stay as recorded). Replaying
  // them with the current code fails if a change to workflows/ would break inferences already running.
  const historiesDir = path.join(__dirname, '..', 'fixtures', 'histories');
  async function recordHistory(name: string, workflowId: string): Promise<void> {
    const wanted = process.env.RECORD_HISTORIES?.split(',') ?? [];
    if (!wanted.includes('1') && !wanted.includes(name)) return;
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    fs.mkdirSync(historiesDir, { recursive: true });
    fs.writeFileSync(path.join(historiesDir, `${name}.json`), JSON.stringify(history));
  }

  beforeAll(async () => {
    connection = await NativeConnection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
    client = new Client({ connection: await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }) });
  });

  afterAll(async () => {
    await client?.connection.close();
    await connection?.close();
  });

  it('runs every step of every task and reports COMPLETED; the recorded history replays deterministically', async () => {
    const args = input(['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif']);
    const result = await withWorker(scriptedActivities({}), (taskQueue) =>
      client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
    );
    const state = result as InferenceWorkflowState;
    expect(state.status).toBe('COMPLETED');
    expect(state.tasks.every((task) => task.status === 'FINISHED' && task.output_key === `out/${task.task_id}`)).toBe(
      true,
    );
    // The COCO export runs once, after the tasks and before the final status is recorded.
    expect(state.coco).toEqual({ key: `inferences/${args.inferenceId}/coco.json`, annotations: 7 });
    expect(state.results).toEqual({ key: `inferences/${args.inferenceId}/collection.json`, items: 3, features: 9 });
    const ours = projections.filter(
      (p) => p.kind === 'inference' || (p.kind === 'coco' && p.taskId === args.inferenceId),
    );
    expect(ours.slice(-2).map((p) => p.kind + ':' + p.status)).toEqual(['coco:EXPORTED', 'inference:COMPLETED']);
    expect(state.tasks[0].pipeline_steps.map((step) => [step.process_id, step.step_number, step.status])).toEqual([
      ['terrakit-data-fetch', 0, 'FINISHED'],
      ['model-inference', 1, 'FINISHED'],
      ['push-to-geoserver', 2, 'FINISHED'],
    ]);
    const history = await client.workflow.getHandle(args.inferenceId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await sharedWorkflowBundle() }, history, args.inferenceId);
    await recordHistory('completed', args.inferenceId);
    // The same run with the results export (STAC, vectors, previews) after COCO.
    await recordHistory('completed-results', args.inferenceId);
  });

  it('records why the COCO export was skipped (a regression model) on the coco state; the history replays', async () => {
    const args = input(['http://a/1.tif']);
    const reason = 'model tiny is a regression model: nothing to export as COCO';
    const state = (await withWorker(scriptedActivities({ cocoSkipped: reason }), (taskQueue) =>
      client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
    )) as InferenceWorkflowState;
    expect(state.status).toBe('COMPLETED');
    expect(state.coco).toEqual({ skipped: reason });
    const history = await client.workflow.getHandle(args.inferenceId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await sharedWorkflowBundle() }, history, args.inferenceId);
    await recordHistory('coco-skipped', args.inferenceId);
  });

  it('fails only the task with bad input; the others finish; the inference is FAILED', async () => {
    const args = input(['http://a/good.tif', 'http://a/bad.tif']);
    const state = (await withWorker(scriptedActivities({ failUrl: 'http://a/bad.tif' }), (taskQueue) =>
      client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
    )) as InferenceWorkflowState;
    expect(state.status).toBe('FAILED');
    expect(state.message).toBe('1 of 2 tasks failed');
    expect(state.tasks.map((task) => task.status)).toEqual(['FINISHED', 'FAILED']);
    expect(state.tasks[1].pipeline_steps[0]).toMatchObject({
      status: 'FAILED',
      message: 'the downloaded file is not a readable GeoTIFF',
    });
    expect(state.tasks[1].pipeline_steps[1].status).toBe('WAITING');
    await recordHistory('failed', args.inferenceId);
  });

  it("a step result's warnings become the finished step's message; the history replays", async () => {
    const args = input(['http://a/1.tif', 'http://a/2.tif']);
    const state = (await withWorker(scriptedActivities({ warnTaskSuffix: '-task-002' }), (taskQueue) =>
      client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
    )) as InferenceWorkflowState;
    expect(state.status).toBe('COMPLETED');
    expect(state.tasks[0].pipeline_steps[1].message).toBeUndefined();
    expect(state.tasks[1].pipeline_steps[1]).toMatchObject({
      process_id: 'model-inference',
      status: 'FINISHED',
      message: 'input guardrails: 80% of the input is nodata (more than 50%)',
    });
    const history = await client.workflow.getHandle(args.inferenceId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await sharedWorkflowBundle() }, history, args.inferenceId);
    await recordHistory('step-warnings', args.inferenceId);
  });

  it('cancellation stops running activities and marks unfinished work STOPPED, queryable while it runs', async () => {
    const args = input(['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif']);
    await withWorker(scriptedActivities({ blockInference: true }), async (taskQueue) => {
      const handle = await client.workflow.start('inferenceWorkflow', {
        taskQueue,
        workflowId: args.inferenceId,
        args: [args],
      });
      let live: InferenceWorkflowState | undefined;
      for (let i = 0; i < 100; i += 1) {
        live = await handle.query<InferenceWorkflowState>('inferenceStatus');
        if (live.tasks.filter((task) => task.pipeline_steps[1].status === 'RUNNING').length === 2) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // Concurrency 2: two tasks in model-inference, the third still waiting its turn.
      expect(live!.tasks.map((task) => task.status)).toEqual(['RUNNING', 'RUNNING', 'WAITING']);
      await handle.cancel();
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      const final = await handle.query<InferenceWorkflowState>('inferenceStatus');
      expect(final.status).toBe('STOPPED');
      expect(final.tasks.map((task) => task.status)).toEqual(['STOPPED', 'STOPPED', 'STOPPED']);
      expect(final.tasks[0].pipeline_steps.map((step) => step.status)).toEqual(['FINISHED', 'STOPPED', 'STOPPED']);
      expect(final.coco).toBeUndefined(); // no export for a stopped inference
    });
    expect(projections.some((entry) => entry.kind === 'coco' && entry.taskId === args.inferenceId)).toBe(false);
    expect(projections.filter((entry) => entry.kind === 'inference').map((entry) => entry.status)).toContain('STOPPED');
    await recordHistory('stopped', args.inferenceId);
  });

  it('shows the progress a running step signals in the query; the history with the signals replays', async () => {
    const args = input(['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif']);
    await withWorker(scriptedActivities({ blockInference: true }), async (taskQueue) => {
      const handle = await client.workflow.start('inferenceWorkflow', {
        taskQueue,
        workflowId: args.inferenceId,
        args: [args],
      });
      let live: InferenceWorkflowState | undefined;
      for (let i = 0; i < 100; i += 1) {
        live = await handle.query<InferenceWorkflowState>('inferenceStatus');
        if (live.tasks.filter((task) => task.pipeline_steps[1].status === 'RUNNING').length === 2) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const [running, , waiting] = live!.tasks;
      const progress = { done: 12, total: 40, unit: 'tiles', eta_seconds: 9 };
      // What activities/runtime/step-progress.ts sends while a step runs longer than a few seconds.
      await handle.signal(STEP_PROGRESS_SIGNAL, { task_id: running!.task_id, step_id: 'model-inference', progress });
      // A late count for a step that is not running (here: not started) changes nothing.
      await handle.signal(STEP_PROGRESS_SIGNAL, { task_id: waiting!.task_id, step_id: 'model-inference', progress });
      const shown = await handle.query<InferenceWorkflowState>('inferenceStatus');
      expect(shown.tasks[0]!.pipeline_steps[1]).toMatchObject({ status: 'RUNNING', progress });
      expect(shown.tasks[2]!.pipeline_steps[1]!.progress).toBeUndefined();
      await handle.cancel();
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    });
    const history = await client.workflow.getHandle(args.inferenceId).fetchHistory();
    expect(history.events?.filter((event) => event.workflowExecutionSignaledEventAttributes)).toHaveLength(2);
    await Worker.runReplayHistory({ workflowBundle: await sharedWorkflowBundle() }, history, args.inferenceId);
    await recordHistory('progress-signals', args.inferenceId);
  });

  it('lets a COCO export that has started finish when a stop arrives, and completes', async () => {
    const args = input(['http://a/1.tif']);
    const state = await withWorker(scriptedActivities({ slowExport: true }), async (taskQueue) => {
      const handle = await client.workflow.start('inferenceWorkflow', {
        taskQueue,
        workflowId: args.inferenceId,
        args: [args],
      });
      for (let i = 0; i < 100 && !projections.some((p) => p.kind === 'coco' && p.taskId === args.inferenceId); i += 1)
        await new Promise((resolve) => setTimeout(resolve, 50));
      await handle.cancel();
      return (await handle.result()) as InferenceWorkflowState;
    });
    expect(state.status).toBe('COMPLETED');
    expect(state.coco).toEqual({ key: `inferences/${args.inferenceId}/coco.json`, annotations: 7 });
  });

  it('runs large inferences in child workflows of batchSize tasks and still reports every task', async () => {
    const args = {
      ...input(['http://a/1.tif', 'http://a/2.tif', 'http://a/bad.tif', 'http://a/4.tif', 'http://a/5.tif']),
      batchSize: 2,
      batchConcurrency: 2,
    };
    const state = (await withWorker(scriptedActivities({ failUrl: 'http://a/bad.tif' }), (taskQueue) =>
      client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
    )) as InferenceWorkflowState;
    expect(state.status).toBe('FAILED');
    expect(state.tasks.map((task) => task.status)).toEqual(['FINISHED', 'FINISHED', 'FAILED', 'FINISHED', 'FINISHED']);
    expect(state.tasks[4].output_key).toBe(`out/${args.tasks[4].task_id}`);
    const children = [];
    for await (const execution of client.workflow.list({
      query: `WorkflowId STARTS_WITH "${args.inferenceId}-batch-"`,
    }))
      children.push(execution.workflowId);
    expect(children.sort()).toEqual([1, 2, 3].map((n) => `${args.inferenceId}-batch-000${n}`));
    await recordHistory('batched', args.inferenceId);
  });

  it('stops every batch on cancellation, including batches not started yet', async () => {
    const args = {
      ...input(['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif', 'http://a/4.tif', 'http://a/5.tif']),
      batchSize: 2,
      batchConcurrency: 1,
    };
    await withWorker(scriptedActivities({ blockInference: true }), async (taskQueue) => {
      const handle = await client.workflow.start('inferenceWorkflow', {
        taskQueue,
        workflowId: args.inferenceId,
        args: [args],
      });
      for (let i = 0; i < 100; i += 1) {
        const live = await handle.query<InferenceWorkflowState>('inferenceStatus');
        if (live.tasks[0].status === 'RUNNING') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      await handle.cancel();
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      const final = await handle.query<InferenceWorkflowState>('inferenceStatus');
      expect(final.status).toBe('STOPPED');
      expect(final.tasks.map((task) => task.status)).toEqual(['STOPPED', 'STOPPED', 'STOPPED', 'STOPPED', 'STOPPED']);
    });
  });

  it('a retry reruns only unfinished steps of failed and stopped tasks, reusing finished outputs', async () => {
    const base = input(['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif']);
    const step = (
      processId: 'terrakit-data-fetch' | 'model-inference' | 'push-to-geoserver',
      stepNumber: number,
      status: 'FINISHED' | 'FAILED' | 'STOPPED' | 'WAITING',
    ) => ({ process_id: processId, step_number: stepNumber, status });
    const resume = [
      {
        task_id: base.tasks[0].task_id,
        task_index: 0,
        status: 'FINISHED' as const,
        output_key: 'out/old-0',
        current_key: 'out/old-0',
        pipeline_steps: [
          step('terrakit-data-fetch', 0, 'FINISHED'),
          step('model-inference', 1, 'FINISHED'),
          step('push-to-geoserver', 2, 'FINISHED'),
        ],
      },
      {
        task_id: base.tasks[1].task_id,
        task_index: 1,
        status: 'FAILED' as const,
        current_key: 'out/old-1',
        message: 'push failed',
        pipeline_steps: [
          step('terrakit-data-fetch', 0, 'FINISHED'),
          step('model-inference', 1, 'FINISHED'),
          step('push-to-geoserver', 2, 'FAILED'),
        ],
      },
      {
        task_id: base.tasks[2].task_id,
        task_index: 2,
        status: 'STOPPED' as const,
        current_key: 'in/old-2',
        pipeline_steps: [
          step('terrakit-data-fetch', 0, 'FINISHED'),
          step('model-inference', 1, 'STOPPED'),
          step('push-to-geoserver', 2, 'STOPPED'),
        ],
      },
    ];
    const calls: string[] = [];
    const activities = scriptedActivities({});
    const counting: PipelineActivities = {
      ...activities,
      async fetchTaskInput(request) {
        calls.push(`fetch:${request.taskId}`);
        return activities.fetchTaskInput(request);
      },
      async runModelInference(request) {
        calls.push(`model:${request.taskId}:${request.inputKey}`);
        return activities.runModelInference(request);
      },
      async pushToGeoserver(request) {
        calls.push(`push:${request.taskId}:${request.rasterKey}`);
        return activities.pushToGeoserver(request);
      },
    };
    const state = (await withWorker(counting, (taskQueue) =>
      client.workflow.execute('inferenceWorkflow', {
        taskQueue,
        workflowId: base.inferenceId,
        args: [{ ...base, resume }],
      }),
    )) as InferenceWorkflowState;
    expect(state.status).toBe('COMPLETED');
    expect(calls.sort()).toEqual(
      [
        `model:${base.tasks[2].task_id}:in/old-2`,
        `push:${base.tasks[1].task_id}:out/old-1`,
        `push:${base.tasks[2].task_id}:out/${base.tasks[2].task_id}`,
      ].sort(),
    );
    expect(state.tasks[0].output_key).toBe('out/old-0');
    expect(state.tasks[1].output_key).toBe('out/old-1');
  });

  describe('grouped steps (stepGroupSize)', () => {
    function grouped(urls: string[], groupSize: number): InferenceWorkflowInput {
      return { ...input(urls), stepGroupSize: groupSize, taskConcurrency: 2 };
    }

    /** Counts activity calls by type (grouped calls with their task count). */
    function counted(activities: PipelineActivities, calls: string[]): PipelineActivities {
      return {
        ...activities,
        async fetchTaskInputs(request) {
          calls.push(`fetchTaskInputs:${request.items.length}`);
          return activities.fetchTaskInputs(request);
        },
        async runModelInferences(request) {
          calls.push(`runModelInferences:${request.items.length}`);
          return activities.runModelInferences(request);
        },
        async pushToGeoservers(request) {
          calls.push(`pushToGeoservers:${request.items.length}`);
          return activities.pushToGeoservers(request);
        },
        async runModelInference(request) {
          calls.push(`runModelInference:${request.taskId}`);
          return activities.runModelInference(request);
        },
      };
    }

    it('runs one activity per group and step, fails only the bad task, and projects whole groups; the history replays', async () => {
      const args = grouped(
        ['http://a/1.tif', 'http://a/bad.tif', 'http://a/3.tif', 'http://a/4.tif', 'http://a/5.tif'],
        2,
      );
      const calls: string[] = [];
      const before = projections.length;
      const state = (await withWorker(
        counted(scriptedActivities({ failUrl: 'http://a/bad.tif' }), calls),
        (taskQueue) =>
          client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
      )) as InferenceWorkflowState;
      expect(state.status).toBe('FAILED');
      expect(state.message).toBe('1 of 5 tasks failed');
      expect(state.tasks.map((task) => task.status)).toEqual([
        'FINISHED',
        'FAILED',
        'FINISHED',
        'FINISHED',
        'FINISHED',
      ]);
      expect(state.tasks[1].pipeline_steps.map((step) => step.status)).toEqual(['FAILED', 'WAITING', 'WAITING']);
      expect(state.tasks[1].message).toBe('terrakit-data-fetch: the downloaded file is not a readable GeoTIFF');
      expect(state.tasks[0].output_key).toBe(`out/${args.tasks[0].task_id}`);
      for (const task of state.tasks.filter((t) => t.status === 'FINISHED')) {
        expect(
          task.pipeline_steps.every(
            (step) => step.status === 'FINISHED' && step.started_at && step.finished_at && step.result,
          ),
        ).toBe(true);
      }
      // Groups [1, bad], [3, 4], [5]: the bad file leaves its group after the fetch.
      expect(calls.sort()).toEqual(
        [
          'fetchTaskInputs:2',
          'fetchTaskInputs:2',
          'fetchTaskInputs:1',
          'runModelInferences:1',
          'runModelInferences:2',
          'runModelInferences:1',
          'pushToGeoservers:1',
          'pushToGeoservers:2',
          'pushToGeoservers:1',
        ].sort(),
      );
      // Each group writes its tasks together: 3 steps + the end, per group.
      const groupWrites = projections.slice(before).filter((p) => p.kind === 'tasks');
      expect(groupWrites.length).toBeLessThanOrEqual(12);
      const history = await client.workflow.getHandle(args.inferenceId).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: await sharedWorkflowBundle() }, history, args.inferenceId);
      await recordHistory('grouped-failed', args.inferenceId);
    });

    it('runs the generic processor step grouped too, between the model and the push; the history replays', async () => {
      const args: InferenceWorkflowInput = {
        ...grouped(['http://a/1.tif', 'http://a/bad.tif', 'http://a/3.tif'], 2),
        steps: [STEP_IDS.dataFetch, STEP_IDS.modelInference, STEP_IDS.genericProcessor, STEP_IDS.pushToGeoserver],
        processor: { id: 'p1', name: 'mask', file_key: 'processors/p1/mask.py', file_name: 'mask.py', parameters: {} },
      };
      const calls: string[] = [];
      const base = scriptedActivities({ failUrl: 'http://a/bad.tif' });
      const activities = counted(
        {
          ...base,
          async runGenericProcessors(request) {
            calls.push(
              `runGenericProcessors:${request.items.map((item) => `${item.taskId}:${item.inputKey}`).join(',')}`,
            );
            return base.runGenericProcessors(request);
          },
        },
        calls,
      );
      const state = (await withWorker(activities, (taskQueue) =>
        client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
      )) as InferenceWorkflowState;
      expect(state.status).toBe('FAILED');
      expect(state.tasks.map((task) => task.status)).toEqual(['FINISHED', 'FAILED', 'FINISHED']);
      expect(state.tasks[0].output_key).toBe(`processed/${args.tasks[0].task_id}`);
      expect(state.tasks[2].pipeline_steps.map((step) => [step.process_id, step.status])).toEqual([
        ['terrakit-data-fetch', 'FINISHED'],
        ['model-inference', 'FINISHED'],
        ['generic-python-processor', 'FINISHED'],
        ['push-to-geoserver', 'FINISHED'],
      ]);
      expect(state.tasks[2].pipeline_steps[3].result).toMatchObject({
        raster_key: `processed/${args.tasks[2].task_id}`,
      });
      expect(calls.sort()).toEqual(
        [
          'fetchTaskInputs:2',
          'fetchTaskInputs:1',
          'runModelInferences:1',
          'runModelInferences:1',
          `runGenericProcessors:${args.tasks[0].task_id}:out/${args.tasks[0].task_id}`,
          `runGenericProcessors:${args.tasks[2].task_id}:out/${args.tasks[2].task_id}`,
          'pushToGeoservers:1',
          'pushToGeoservers:1',
        ].sort(),
      );
      const history = await client.workflow.getHandle(args.inferenceId).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: await sharedWorkflowBundle() }, history, args.inferenceId);
      // 'grouped-processor' is the earlier, task-by-task processor step: it stays as recorded.
      await recordHistory('grouped-processor-step', args.inferenceId);
    });

    it('splits a group: downloads four per activity, model runs up to the value budget, and records each part as it ends', async () => {
      // Scripted inputs are 1 x 1 x 6 values: a budget of 12 puts two tasks in each model activity.
      const args = {
        ...grouped(
          ['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif', 'http://a/4.tif', 'http://a/5.tif', 'http://a/6.tif'],
          6,
        ),
        stepGroupValues: 12,
      };
      const calls: string[] = [];
      const before = projections.length;
      const state = (await withWorker(counted(scriptedActivities({}), calls), (taskQueue) =>
        client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
      )) as InferenceWorkflowState;
      expect(state.status).toBe('COMPLETED');
      expect(calls.sort()).toEqual(
        [
          'fetchTaskInputs:2',
          'fetchTaskInputs:4',
          'pushToGeoservers:6',
          'runModelInferences:2',
          'runModelInferences:2',
          'runModelInferences:2',
        ].sort(),
      );
      // Running fetch, 2 fetch parts, running model, 3 model parts, running push, finished.
      expect(projections.slice(before).filter((p) => p.kind === 'tasks').length).toBe(9);
    });

    it('runs a task whose grouped attempt failed transiently alone with retries, and falls back to single tasks when a whole group keeps failing', async () => {
      const args = grouped(['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif'], 3);
      const calls: string[] = [];
      const flaky = new Set([args.tasks[1].task_id]);
      const base = scriptedActivities({});
      const activities = counted(
        {
          ...withGroups({
            ...base,
            async runModelInference(request) {
              // The second task's first model run hits a transient error (plain Error: retryable).
              if (flaky.delete(request.taskId)) throw new Error('connection reset by MinIO');
              return base.runModelInference(request);
            },
          }),
          async pushToGeoservers() {
            throw new Error('publisher worker lost'); // the group itself fails on every attempt
          },
        },
        calls,
      );
      const state = (await withWorker(activities, (taskQueue) =>
        client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
      )) as InferenceWorkflowState;
      expect(state.status).toBe('COMPLETED');
      expect(state.tasks.every((task) => task.status === 'FINISHED')).toBe(true);
      // The model group ran once; the flaky task then ran alone (and succeeded) with the step's own retries.
      expect(calls.filter((call) => call.startsWith('runModelInferences'))).toEqual(['runModelInferences:3']);
      expect(calls.filter((call) => call.startsWith('runModelInference:'))).toEqual([
        `runModelInference:${args.tasks[1].task_id}`,
      ]);
      // The publish group failed its 2 attempts; each task was then published alone.
      expect(calls.filter((call) => call.startsWith('pushToGeoservers'))).toEqual([
        'pushToGeoservers:3',
        'pushToGeoservers:3',
      ]);
      expect(state.tasks.map((task) => task.pipeline_steps[2].result)).toEqual(
        args.tasks.map((task) => expect.objectContaining({ layer_name: task.task_id })),
      );
    });

    it('a retried group attempt does not redo the tasks its predecessor finished (heartbeat details)', async () => {
      const args = grouped(['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif'], 3);
      const modelRuns: string[] = [];
      const base = scriptedActivities({});
      const activities: PipelineActivities = {
        ...base,
        async runModelInferences(request) {
          const body = async (item: { taskId: string; inputKey: string }) => {
            modelRuns.push(item.taskId);
            return base.runModelInference({ ...request, taskId: item.taskId, inputKey: item.inputKey });
          };
          if (Context.current().info.attempt === 1) {
            // The first attempt finishes one task, reports it, and then its worker "dies".
            await runGroupItems(request.items.slice(0, 1), 1, body);
            await Context.current().sleep(1500);
            throw new Error('worker lost');
          }
          return runGroupItems(request.items, 2, body);
        },
      };
      const state = (await withWorker(activities, (taskQueue) =>
        client.workflow.execute('inferenceWorkflow', { taskQueue, workflowId: args.inferenceId, args: [args] }),
      )) as InferenceWorkflowState;
      expect(state.status).toBe('COMPLETED');
      expect(modelRuns.sort()).toEqual(args.tasks.map((task) => task.task_id).sort());
    });

    it('stops a grouped inference: the running group activity is cancelled and every unfinished task is STOPPED', async () => {
      const args = grouped(
        ['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif', 'http://a/4.tif', 'http://a/5.tif'],
        2,
      );
      await withWorker(scriptedActivities({ blockInference: true }), async (taskQueue) => {
        const handle = await client.workflow.start('inferenceWorkflow', {
          taskQueue,
          workflowId: args.inferenceId,
          args: [args],
        });
        for (let i = 0; i < 100; i += 1) {
          const live = await handle.query<InferenceWorkflowState>('inferenceStatus');
          if (live.tasks.filter((task) => task.pipeline_steps[1].status === 'RUNNING').length === 4) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await handle.cancel();
        await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
        const final = await handle.query<InferenceWorkflowState>('inferenceStatus');
        expect(final.status).toBe('STOPPED');
        expect(final.tasks.map((task) => task.status)).toEqual(['STOPPED', 'STOPPED', 'STOPPED', 'STOPPED', 'STOPPED']);
        expect(final.tasks[0].pipeline_steps.map((step) => step.status)).toEqual(['FINISHED', 'STOPPED', 'STOPPED']);
        expect(final.tasks[4].pipeline_steps.map((step) => step.status)).toEqual(['STOPPED', 'STOPPED', 'STOPPED']);
      });
    });

    it('a grouped retry reruns only the unfinished steps of failed and stopped tasks', async () => {
      const base = grouped(['http://a/1.tif', 'http://a/2.tif', 'http://a/3.tif'], 3);
      const step = (
        processId: 'terrakit-data-fetch' | 'model-inference' | 'push-to-geoserver',
        stepNumber: number,
        status: 'FINISHED' | 'FAILED' | 'STOPPED',
      ) => ({ process_id: processId, step_number: stepNumber, status });
      const resume = [
        {
          task_id: base.tasks[0].task_id,
          task_index: 0,
          status: 'FINISHED' as const,
          output_key: 'out/old-0',
          current_key: 'out/old-0',
          pipeline_steps: [
            step('terrakit-data-fetch', 0, 'FINISHED'),
            step('model-inference', 1, 'FINISHED'),
            step('push-to-geoserver', 2, 'FINISHED'),
          ],
        },
        {
          task_id: base.tasks[1].task_id,
          task_index: 1,
          status: 'FAILED' as const,
          current_key: 'out/old-1',
          message: 'push failed',
          pipeline_steps: [
            step('terrakit-data-fetch', 0, 'FINISHED'),
            step('model-inference', 1, 'FINISHED'),
            step('push-to-geoserver', 2, 'FAILED'),
          ],
        },
        {
          task_id: base.tasks[2].task_id,
          task_index: 2,
          status: 'STOPPED' as const,
          current_key: 'in/old-2',
          pipeline_steps: [
            step('terrakit-data-fetch', 0, 'FINISHED'),
            step('model-inference', 1, 'STOPPED'),
            step('push-to-geoserver', 2, 'STOPPED'),
          ],
        },
      ];
      const calls: string[] = [];
      const state = (await withWorker(counted(scriptedActivities({}), calls), (taskQueue) =>
        client.workflow.execute('inferenceWorkflow', {
          taskQueue,
          workflowId: base.inferenceId,
          args: [{ ...base, resume }],
        }),
      )) as InferenceWorkflowState;
      expect(state.status).toBe('COMPLETED');
      expect(calls.sort()).toEqual(['pushToGeoservers:2', 'runModelInferences:1']);
      expect(state.tasks.map((task) => task.output_key)).toEqual([
        'out/old-0',
        'out/old-1',
        `out/${base.tasks[2].task_id}`,
      ]);
    });
  });

  it.each([
    'completed',
    'completed-results',
    'failed',
    'stopped',
    'grouped-failed',
    'grouped-processor',
    'grouped-processor-step',
    'batched',
    'progress-signals',
    'step-warnings',
  ])('replays the recorded history of a %s inference with the current workflow code', async (name) => {
    const file = path.join(historiesDir, `${name}.json`);
    expect(fs.existsSync(file)).toBe(true);
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(file, 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: await sharedWorkflowBundle() }, history, `replay-${name}`);
  });
});
