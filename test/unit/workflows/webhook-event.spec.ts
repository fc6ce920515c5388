import type { InferenceWorkflowState } from '../../../workflows/contract/types';
import { webhookEvent } from '../../../workflows/webhook-event';

const plan = {
  apiBaseUrl: 'https://geo.example',
  temporalUiUrl: 'http://temporal:8233',
  maximumAttempts: 3,
  initialIntervalSeconds: 1,
  maximumIntervalSeconds: 10,
};

describe('webhook event of a finished inference', () => {
  it('summarises the tasks with their counts and links into the API and the Web UI', () => {
    const state: InferenceWorkflowState = {
      inference_id: 'inf-1',
      status: 'FAILED',
      message: '1 of 2 tasks failed',
      tasks: [
        { task_id: 'inf-1-task-001', task_index: 0, status: 'FINISHED', output_key: 'out/1', pipeline_steps: [] },
        { task_id: 'inf-1-task-002', task_index: 1, status: 'FAILED', message: 'boom', pipeline_steps: [] },
      ],
      coco: { key: 'inferences/inf-1/coco.json', annotations: 3 },
    };
    const event = webhookEvent(plan, state, {
      inferenceId: 'inf-1',
      namespace: 'default',
      timestamp: '2026-01-01T00:00:00.000Z',
    });
    expect(event).toEqual({
      type: 'inference.failed',
      timestamp: '2026-01-01T00:00:00.000Z',
      data: {
        inference_id: 'inf-1',
        status: 'FAILED',
        message: '1 of 2 tasks failed',
        tasks_count_total: 2,
        tasks_count_success: 1,
        tasks_count_failed: 1,
        tasks_count_stopped: 0,
        tasks_count_waiting: 0,
        tasks_count_running: 0,
        tasks: [
          {
            task_id: 'inf-1-task-001',
            status: 'FINISHED',
            message: null,
            output_url: 'https://geo.example/api/v2/tasks/inf-1-task-001/output-url',
          },
          { task_id: 'inf-1-task-002', status: 'FAILED', message: 'boom', output_url: null },
        ],
        coco_url: 'https://geo.example/api/v2/inference/inf-1/coco',
        links: {
          inference: 'https://geo.example/api/v2/inference/inf-1',
          tasks: 'https://geo.example/api/v2/inference/inf-1/tasks',
          temporal_ui: 'http://temporal:8233/namespaces/default/workflows/inf-1',
        },
      },
    });
  });

  it('has no message and no COCO link when there are none, and names a stopped inference', () => {
    const event = webhookEvent(
      plan,
      { inference_id: 'inf-2', status: 'STOPPED', tasks: [], coco: { error: 'no masks' } },
      { inferenceId: 'inf-2', namespace: 'default', timestamp: '2026-01-01T00:00:00.000Z' },
    );
    expect(event.type).toBe('inference.stopped');
    expect(event.data).toMatchObject({ message: null, coco_url: null, tasks: [], tasks_count_total: 0 });
  });
});
