import {
  activitiesByRole,
  planSteps,
  splitByInputKind,
  splitByInputValues,
  STEP_OF_ACTIVITY,
  stepDeclaration,
  STEPS,
  type StepRequestContext,
} from '../../../workflows/contract/steps';
import type { TaskInput, TaskPlan, TaskState } from '../../../workflows/contract/types';

function task(index: number, fetched?: { width: number; height: number; bands: number }): TaskState {
  return {
    task_id: `t${index}`,
    task_index: index,
    status: 'RUNNING',
    current_key: `in/t${index}`,
    pipeline_steps: [
      {
        process_id: 'terrakit-data-fetch',
        step_number: 0,
        status: 'FINISHED',
        ...(fetched ? { result: fetched } : {}),
      },
    ],
  };
}

function context(overrides: Partial<StepRequestContext> = {}): StepRequestContext {
  return {
    inferenceId: 'inf',
    taskId: 'inf-task-001',
    workflowId: 'inf',
    modelId: 'm1',
    input: { kind: 'url', url: 'http://a/1.tif' },
    inputKey: () => 'in/1',
    ...overrides,
  };
}

describe('step registry', () => {
  it('plans the steps of the contract; the generic processor only when asked for, just before the push', () => {
    expect(planSteps({ genericProcessor: false })).toEqual([
      'terrakit-data-fetch',
      'model-inference',
      'push-to-geoserver',
    ]);
    expect(planSteps({ genericProcessor: true })).toEqual([
      'terrakit-data-fetch',
      'model-inference',
      'generic-python-processor',
      'push-to-geoserver',
    ]);
  });

  it("gives each worker role its steps' activities, and the workflows role the bookkeeping ones", () => {
    const roles = activitiesByRole();
    const sorted = Object.fromEntries(Object.entries(roles).map(([role, names]) => [role, [...names].sort()]));
    expect(sorted).toEqual({
      workflows: [
        'deliverWebhook',
        'exportCoco',
        'exportResults',
        'pushToGeoserver',
        'pushToGeoservers',
        'recordInferenceState',
        'recordTaskState',
        'recordTaskStates',
      ],
      fetch: ['fetchTaskInput', 'fetchTaskInputs'],
      model: ['runModelInference', 'runModelInferences'],
      processor: ['runGenericProcessor', 'runGenericProcessors'],
    });
  });

  it('names the step of each step activity', () => {
    expect(STEP_OF_ACTIVITY).toEqual({
      fetchTaskInput: 'terrakit-data-fetch',
      fetchTaskInputs: 'terrakit-data-fetch',
      runModelInference: 'model-inference',
      runModelInferences: 'model-inference',
      runGenericProcessor: 'generic-python-processor',
      runGenericProcessors: 'generic-python-processor',
      pushToGeoserver: 'push-to-geoserver',
      pushToGeoservers: 'push-to-geoserver',
    });
  });

  it('knows no declaration for a step id of another version', () => {
    expect(stepDeclaration('sar-despeckle')).toBeUndefined();
    expect(stepDeclaration('model-inference')?.role).toBe('model');
  });

  it('builds single requests from the task and the raster handed on', () => {
    const requests = Object.fromEntries(
      STEPS.map((step) => [
        step.id,
        step.single.request(
          context({
            processor: { id: 'p', name: 'p', file_key: 'k', file_name: 'p.py', parameters: {} },
          }),
        ),
      ]),
    );
    const base = { inferenceId: 'inf', taskId: 'inf-task-001', workflowId: 'inf' };
    expect(requests).toEqual({
      'terrakit-data-fetch': { ...base, input: { kind: 'url', url: 'http://a/1.tif' } },
      'model-inference': { ...base, modelId: 'm1', inputKey: 'in/1' },
      'generic-python-processor': {
        ...base,
        processor: { id: 'p', name: 'p', file_key: 'k', file_name: 'p.py', parameters: {} },
        inputKey: 'in/1',
      },
      'push-to-geoserver': { ...base, modelId: 'm1', rasterKey: 'in/1' },
    });
  });

  it('fails the processor step of a plan without a processor before asking for its input', () => {
    const processor = stepDeclaration('generic-python-processor')!;
    const inputKey = jest.fn(() => 'in/1');
    expect(() => processor.single.request(context({ inputKey }))).toThrow(
      'the step plan has a processor step but no processor',
    );
    expect(inputKey).not.toHaveBeenCalled();
  });

  it('builds grouped requests with every member, model runs with their input values when known', () => {
    const plan = (index: number): TaskPlan => ({
      task_id: `t${index}`,
      task_index: index,
      input: { kind: 'url', url: `u${index}` },
    });
    const members = [
      { plan: plan(1), task: task(1, { width: 2, height: 3, bands: 4 }) },
      { plan: plan(2), task: task(2) },
    ];
    const ctx = { inferenceId: 'inf', workflowId: 'inf', modelId: 'm1', members };
    expect(stepDeclaration('terrakit-data-fetch')!.grouped!.request(ctx)).toEqual({
      inferenceId: 'inf',
      workflowId: 'inf',
      items: [
        { taskId: 't1', input: { kind: 'url', url: 'u1' } },
        { taskId: 't2', input: { kind: 'url', url: 'u2' } },
      ],
    });
    expect(stepDeclaration('model-inference')!.grouped!.request(ctx)).toEqual({
      inferenceId: 'inf',
      workflowId: 'inf',
      modelId: 'm1',
      items: [
        { taskId: 't1', inputKey: 'in/t1', inputValues: 24 },
        { taskId: 't2', inputKey: 'in/t2' },
      ],
    });
    expect(stepDeclaration('push-to-geoserver')!.grouped!.request(ctx)).toEqual({
      inferenceId: 'inf',
      workflowId: 'inf',
      modelId: 'm1',
      items: [
        { taskId: 't1', rasterKey: 'in/t1' },
        { taskId: 't2', rasterKey: 'in/t2' },
      ],
    });
    const processor = {
      id: 'p1',
      name: 'mask',
      file_key: 'processors/p1/mask.py',
      file_name: 'mask.py',
      parameters: {},
    };
    expect(stepDeclaration('generic-python-processor')!.grouped!.request({ ...ctx, processor })).toEqual({
      inferenceId: 'inf',
      workflowId: 'inf',
      processor,
      items: [
        { taskId: 't1', inputKey: 'in/t1' },
        { taskId: 't2', inputKey: 'in/t2' },
      ],
    });
    expect(() => stepDeclaration('generic-python-processor')!.grouped!.request(ctx)).toThrow(/no processor/);
  });

  it('fetches uploads in one activity and downloads four at a time', () => {
    const tasks = [0, 1, 2, 3, 4, 5, 6].map((index) => task(index));
    const inputs: TaskInput[] = tasks.map((_, index) =>
      index % 3 === 0 ? { kind: 'object', key: `k${index}`, file_name: 'a.tif' } : { kind: 'url', url: `u${index}` },
    );
    const planOf = (taskId: string): TaskPlan => {
      const index = Number(taskId.slice(1));
      return { task_id: taskId, task_index: index, input: inputs[index] };
    };
    expect(splitByInputKind(tasks, { planOf }).map((chunk) => chunk.map((t) => t.task_id))).toEqual([
      ['t0', 't3', 't6'],
      ['t1', 't2', 't4', 't5'],
    ]);
  });

  it('splits model runs by the value budget; unknown sizes count as none; no budget keeps the group whole', () => {
    const tasks = [
      task(0, { width: 1, height: 1, bands: 6 }),
      task(1, { width: 1, height: 1, bands: 6 }),
      task(2),
      task(3, { width: 2, height: 1, bands: 6 }),
    ];
    const planOf = (): never => {
      throw new Error('not needed');
    };
    expect(
      splitByInputValues(tasks, { planOf, stepGroupValues: 12 }).map((chunk) => chunk.map((t) => t.task_id)),
    ).toEqual([['t0', 't1', 't2'], ['t3']]);
    expect(splitByInputValues(tasks, { planOf })).toEqual([tasks]);
  });
});
