import { instageoTaskView, type BboxTaskState } from '../../../src/api/instageo/instageo-views';
import type { InferenceEntity, InstageoTaskEntity } from '../../../src/platform/database/entities';
import type { PipelineStepState } from '../../../workflows/contract/types';

const row = {
  inferenceId: '6f1c2b1e-3f0a-4c1e-9a57-2d6c3e8b9f10',
  createdBy: 'alice@example.com',
  modelType: 'aod_estimation',
  request: {
    bboxes: [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ],
    model_type: 'aod_estimation',
    date: '2024-06-01',
  },
  createdAt: new Date('2024-06-01T00:00:00Z'),
} as InstageoTaskEntity;
const inference = {
  id: row.inferenceId,
  modelId: '00000000-0000-4000-8000-000000000001',
  updatedAt: new Date('2024-06-01T00:05:00Z'),
  statusMessage: null,
} as InferenceEntity;

type Status = PipelineStepState['status'];
const step = (process_id: string, status: Status, times: [string?, string?] = [], message?: string) =>
  ({ process_id, step_number: 0, status, started_at: times[0], finished_at: times[1], message }) as PipelineStepState;

function task(index: number, fetch: PipelineStepState, model: PipelineStepState, status = 'RUNNING'): BboxTaskState {
  return {
    task_id: `t-${index}`,
    task_index: index,
    status,
    pipeline_steps: [fetch, model, step('push-to-geoserver', model.status === 'FINISHED' ? 'FINISHED' : 'WAITING')],
    output_key: null,
    message: null,
  };
}

describe('InstaGeo task view (status and stages from the inference steps)', () => {
  it('data_processing while any bbox fetches; its stage running from the earliest start', () => {
    const view = instageoTaskView(row, inference, 'RUNNING', [
      task(
        0,
        step('terrakit-data-fetch', 'FINISHED', ['2024-06-01T00:00:01Z', '2024-06-01T00:00:05Z']),
        step('model-inference', 'RUNNING', ['2024-06-01T00:00:06Z']),
      ),
      task(1, step('terrakit-data-fetch', 'RUNNING', ['2024-06-01T00:00:02Z']), step('model-inference', 'WAITING')),
    ]);
    expect(view.status).toBe('data_processing');
    expect(view.bbox_count).toBe(2);
    expect(view.parameters).toEqual({ model_type: 'aod_estimation', date: '2024-06-01' });
    expect(view.stages).toEqual([
      { name: 'data_processing', status: 'running', started: '2024-06-01T00:00:01Z', finished: null, error: null },
      { name: 'model_prediction', status: 'running', started: '2024-06-01T00:00:06Z', finished: null, error: null },
    ]);
  });

  it('model_prediction once every fetch ended; pending model stage before any model step ran', () => {
    const view = instageoTaskView(row, inference, 'RUNNING', [
      task(0, step('terrakit-data-fetch', 'FINISHED', ['a', 'b']), step('model-inference', 'WAITING')),
      task(1, step('terrakit-data-fetch', 'FINISHED', ['a', 'c']), step('model-inference', 'WAITING')),
    ]);
    expect(view.status).toBe('model_prediction');
    expect(view.stages.map((stage) => [stage.name, stage.status, stage.finished])).toEqual([
      ['data_processing', 'completed', 'c'],
      ['model_prediction', 'pending', null],
    ]);
  });

  it('completed with every stage completed; failed naming the bbox and step, later stages failed too', () => {
    const done = instageoTaskView(row, inference, 'COMPLETED', [
      task(0, step('terrakit-data-fetch', 'FINISHED'), step('model-inference', 'FINISHED'), 'FINISHED'),
      task(1, step('terrakit-data-fetch', 'FINISHED'), step('model-inference', 'FINISHED'), 'FINISHED'),
    ]);
    expect(done.status).toBe('completed');
    expect(done.error).toBeNull();
    expect(done.stages.map((stage) => stage.status)).toEqual(['completed', 'completed']);

    const failed = instageoTaskView(row, inference, 'FAILED', [
      task(0, step('terrakit-data-fetch', 'FINISHED'), step('model-inference', 'FINISHED'), 'FINISHED'),
      task(1, step('terrakit-data-fetch', 'FAILED', [], 'no scene'), step('model-inference', 'WAITING'), 'FAILED'),
    ]);
    expect(failed.status).toBe('failed');
    expect(failed.stages.map((stage) => stage.status)).toEqual(['failed', 'failed']);
    expect(failed.stages[0]!.error).toBe('bbox 1: terrakit-data-fetch: no scene');
    expect(failed.error).toBe('bbox 1: terrakit-data-fetch: no scene');
    expect(failed.bbox_results.map((result) => result.status)).toEqual(['FINISHED', 'FAILED']);
  });

  it('a stopped inference is failed', () => {
    const view = instageoTaskView(
      row,
      { ...inference, statusMessage: 'inference stopped' } as InferenceEntity,
      'STOPPED',
      [task(0, step('terrakit-data-fetch', 'STOPPED', [], 'inference stopped'), step('model-inference', 'STOPPED'))],
    );
    expect(view.status).toBe('failed');
    expect(view.stages[0]!.status).toBe('failed');
  });
});
