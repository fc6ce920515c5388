import type { TaskPlan, TaskState } from '../../../workflows/contract/types';
import {
  applyGroupOutcome,
  applyStepProgress,
  initialTaskState,
  markStepFailed,
  markStepFinished,
  markStepStarted,
  markStopped,
  markTaskFinished,
  settleInference,
  taskOutcomes,
} from '../../../workflows/task-state';

const STEPS = ['terrakit-data-fetch', 'model-inference', 'push-to-geoserver'] as const;
const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:01:00.000Z';

function plan(index: number): TaskPlan {
  return {
    task_id: `inf-task-00${index + 1}`,
    task_index: index,
    input: { kind: 'url', url: `http://a/${index}.tif` },
  };
}

function fresh(index = 0): TaskState {
  return initialTaskState([...STEPS], plan(index));
}

describe('task state transitions', () => {
  it('starts a task WAITING with every step of the plan WAITING, numbered in plan order', () => {
    expect(fresh()).toEqual({
      task_id: 'inf-task-001',
      task_index: 0,
      status: 'WAITING',
      pipeline_steps: [
        { process_id: 'terrakit-data-fetch', step_number: 0, status: 'WAITING' },
        { process_id: 'model-inference', step_number: 1, status: 'WAITING' },
        { process_id: 'push-to-geoserver', step_number: 2, status: 'WAITING' },
      ],
    });
  });

  it('keeps a FINISHED task of the previous run as it is', () => {
    const previous: TaskState = { ...fresh(), status: 'FINISHED', output_key: 'out/1' };
    expect(initialTaskState([...STEPS], plan(0), previous)).toBe(previous);
  });

  it('reruns a failed or stopped task from its first unfinished step, keeping finished steps and the raster', () => {
    const previous: TaskState = {
      ...fresh(),
      status: 'FAILED',
      message: 'model-inference: boom',
      current_key: 'in/1',
      pipeline_steps: [
        { process_id: 'terrakit-data-fetch', step_number: 0, status: 'FINISHED', result: { inputKey: 'in/1' } },
        { process_id: 'model-inference', step_number: 1, status: 'FAILED', message: 'boom', started_at: T0 },
        { process_id: 'push-to-geoserver', step_number: 2, status: 'WAITING' },
      ],
    };
    const next = initialTaskState([...STEPS], plan(0), previous);
    expect(next).toMatchObject({ status: 'WAITING', message: undefined, current_key: 'in/1' });
    expect(next.pipeline_steps).toEqual([
      previous.pipeline_steps[0],
      { process_id: 'model-inference', step_number: 1, status: 'WAITING' },
      { process_id: 'push-to-geoserver', step_number: 2, status: 'WAITING' },
    ]);
  });

  it('starts a step without the message of an earlier run, and finishes it with its result', () => {
    const step = { ...fresh().pipeline_steps[0], message: 'inference stopped' };
    markStepStarted(step, T0);
    expect(step).toEqual({ ...step, status: 'RUNNING', started_at: T0, message: undefined });
    markStepFinished(step, { inputKey: 'in/1' }, T1);
    expect(step).toMatchObject({ status: 'FINISHED', started_at: T0, finished_at: T1, result: { inputKey: 'in/1' } });
  });

  it('shows a running step its signalled count; late counts of ended steps and unknown tasks are ignored', () => {
    const task = fresh();
    const [, model] = task.pipeline_steps;
    const progress = { done: 3, total: 10, unit: 'tiles', eta_seconds: 7 };
    applyStepProgress([task], { task_id: task.task_id, step_id: 'model-inference', progress });
    expect(model!.progress).toBeUndefined(); // WAITING
    markStepStarted(model!, T0);
    applyStepProgress([task], { task_id: 'other-task', step_id: 'model-inference', progress });
    expect(model!.progress).toBeUndefined();
    applyStepProgress([task], { task_id: task.task_id, step_id: 'model-inference', progress });
    expect(model!.progress).toEqual(progress);
    markStepFinished(model!, {}, T1);
    applyStepProgress([task], {
      task_id: task.task_id,
      step_id: 'model-inference',
      progress: { ...progress, done: 1 },
    });
    expect(model!.progress).toEqual(progress);
    markStepStarted(model!, T1); // a rerun starts without the count of the earlier run
    expect(model!.progress).toBeUndefined();
  });

  it('fails the task with its step: the task message names the step; a finish time already set is kept', () => {
    const task = fresh();
    const step = task.pipeline_steps[1];
    step.finished_at = T0;
    markStepFailed(task, step, 'no such band', T1);
    expect(step).toMatchObject({ status: 'FAILED', message: 'no such band', finished_at: T0 });
    expect(task).toMatchObject({ status: 'FAILED', message: 'model-inference: no such band' });
  });

  it('applies a grouped outcome: its times, its result and the raster it hands on', () => {
    const task = fresh();
    const step = task.pipeline_steps[1];
    const result = { outputKey: 'out/1', tiles: 4 };
    applyGroupOutcome(
      task,
      step,
      { task_id: task.task_id, ok: true, result, started_at: T0, finished_at: T1 },
      'outputKey',
    );
    expect(step).toMatchObject({ status: 'FINISHED', started_at: T0, finished_at: T1, result });
    expect(step.result).not.toBe(result);
    expect(task.current_key).toBe('out/1');
    // A step without an output field hands on the raster it was given.
    applyGroupOutcome(
      task,
      task.pipeline_steps[2],
      { task_id: task.task_id, ok: true, result: { outputKey: 'x' }, started_at: T0, finished_at: T1 },
      undefined,
    );
    expect(task.current_key).toBe('out/1');
  });

  it('applies a failed grouped outcome as a failed step', () => {
    const task = fresh();
    const step = task.pipeline_steps[0];
    applyGroupOutcome(
      task,
      step,
      { task_id: task.task_id, ok: false, message: 'not a GeoTIFF', retryable: false, started_at: T0, finished_at: T1 },
      'inputKey',
    );
    expect(step).toMatchObject({ status: 'FAILED', message: 'not a GeoTIFF', started_at: T0, finished_at: T1 });
    expect(task).toMatchObject({ status: 'FAILED', message: 'terrakit-data-fetch: not a GeoTIFF' });
    expect(task.current_key).toBeUndefined();
  });

  it('finishes a task with its last raster as its output', () => {
    const task = { ...fresh(), status: 'RUNNING' as const, current_key: 'out/1' };
    markTaskFinished(task);
    expect(task).toMatchObject({ status: 'FINISHED', output_key: 'out/1' });
  });

  it('stops only unfinished tasks and their unfinished steps, and returns them', () => {
    const [waiting, running, finished, failed] = [0, 1, 2, 3].map(fresh);
    running.status = 'RUNNING';
    markStepFinished(running.pipeline_steps[0], {}, T0);
    markStepStarted(running.pipeline_steps[1], T0);
    finished.status = 'FINISHED';
    failed.status = 'FAILED';
    const stopped = markStopped([waiting, running, finished, failed], T1);
    expect(stopped).toEqual([waiting, running]);
    expect([waiting, running, finished, failed].map((task) => task.status)).toEqual([
      'STOPPED',
      'STOPPED',
      'FINISHED',
      'FAILED',
    ]);
    expect(running.pipeline_steps.map((step) => [step.status, step.message, step.finished_at])).toEqual([
      ['FINISHED', undefined, T0],
      ['STOPPED', 'inference stopped', T1],
      ['STOPPED', 'inference stopped', T1],
    ]);
  });

  it('settles the inference: STOPPED when cancelled, FAILED with a count when a task failed, else COMPLETED', () => {
    const state = (statuses: TaskState['status'][]) => ({
      inference_id: 'inf',
      status: 'RUNNING' as const,
      tasks: statuses.map((status, index) => ({ ...fresh(index), status })),
    });
    const completed = state(['FINISHED', 'FINISHED']);
    settleInference(completed, false);
    expect(completed).toMatchObject({ status: 'COMPLETED' });
    expect('message' in completed).toBe(false);
    const failed = state(['FINISHED', 'FAILED', 'FINISHED']);
    settleInference(failed, false);
    expect(failed).toMatchObject({ status: 'FAILED', message: '1 of 3 tasks failed' });
    const stopped = state(['FINISHED', 'STOPPED', 'FAILED']);
    settleInference(stopped, true);
    expect(stopped).toMatchObject({ status: 'STOPPED', message: '1 of 3 tasks failed' });
  });

  it("keeps each task's outcome without its steps", () => {
    const task = { ...fresh(), status: 'FINISHED' as const, output_key: 'out/1', current_key: 'out/1' };
    expect(taskOutcomes([task])).toEqual([
      {
        task_id: 'inf-task-001',
        task_index: 0,
        status: 'FINISHED',
        output_key: 'out/1',
        message: undefined,
        pipeline_steps: [],
      },
    ]);
  });
});
