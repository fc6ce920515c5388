import type { InferenceStatus } from '../../../workflows/contract/status';
import { STEP_IDS } from '../../../workflows/contract/status';
import type { PipelineStepState } from '../../../workflows/contract/types';
import type { InferenceEntity, InstageoTaskEntity } from '../../platform/database/entities';
import type { InstageoStageStatus, InstageoTaskStatus } from './instageo.dto';

/** An inference task (one bbox) as the views read it: the DB projection, or the workflow's live state. */
export interface BboxTaskState {
  task_id: string;
  task_index: number;
  status: string;
  pipeline_steps: PipelineStepState[];
  output_key: string | null;
  message: string | null;
}

const STAGES = {
  // InstaGeo's data processing is the chip creation: the data-fetch step.
  data_processing: (step: PipelineStepState) => step.process_id === STEP_IDS.dataFetch,
  // Model prediction is everything after it: the model, a processor, the publishing of the result.
  model_prediction: (step: PipelineStepState) => step.process_id !== STEP_IDS.dataFetch,
} as const;
type StageName = keyof typeof STAGES;

const ENDED = new Set(['FINISHED', 'FAILED', 'STOPPED']);

/** One stage over every bbox task: what its steps say together. */
function stageView(name: StageName, tasks: BboxTaskState[], inferenceStatus: InferenceStatus) {
  const steps = tasks.flatMap((task) => task.pipeline_steps.filter(STAGES[name]));
  const failed = steps.filter((step) => step.status === 'FAILED' || step.status === 'STOPPED');
  const waiting = steps.filter((step) => step.status === 'WAITING').length;
  let status: InstageoStageStatus;
  if (steps.some((step) => step.status === 'RUNNING')) status = 'running';
  else if (waiting > 0)
    // Steps that never ran because the inference ended (stopped, or every earlier step failed) failed with it.
    status = isTerminal(inferenceStatus) ? 'failed' : waiting === steps.length ? 'pending' : 'running';
  else status = steps.length > 0 && failed.length === 0 ? 'completed' : 'failed';
  const started = steps.map((step) => step.started_at).filter((at): at is string => Boolean(at));
  const finished = steps.map((step) => step.finished_at).filter((at): at is string => Boolean(at));
  const done = status === 'completed' || status === 'failed';
  const errors = tasks.flatMap((task) =>
    task.pipeline_steps
      .filter(STAGES[name])
      .filter((step) => step.status === 'FAILED' || step.status === 'STOPPED')
      .map((step) => `bbox ${task.task_index}: ${step.process_id}: ${step.message ?? step.status.toLowerCase()}`),
  );
  return {
    name,
    status,
    started: started.length > 0 ? started.sort()[0]! : null,
    finished: done && finished.length > 0 ? finished.sort()[finished.length - 1]! : null,
    error: errors.length > 0 ? errors.join('; ') : null,
  };
}

function isTerminal(status: InferenceStatus): boolean {
  return status === 'COMPLETED' || status === 'FAILED' || status === 'STOPPED';
}

/**
 * InstaGeo's task status from the inference: `completed` / `failed` once it ended (stopped counts as failed),
 * else `data_processing` while any bbox still fetches its imagery, then `model_prediction`.
 */
function taskStatus(inferenceStatus: InferenceStatus, tasks: BboxTaskState[]): InstageoTaskStatus {
  if (inferenceStatus === 'COMPLETED') return 'completed';
  if (inferenceStatus === 'FAILED' || inferenceStatus === 'STOPPED') return 'failed';
  const fetching = tasks.some((task) =>
    task.pipeline_steps.some((step) => STAGES.data_processing(step) && !ENDED.has(step.status)),
  );
  return fetching || tasks.length === 0 ? 'data_processing' : 'model_prediction';
}

/** The JSON of an InstaGeo task: its inference seen through the seed's task model. */
export function instageoTaskView(
  row: InstageoTaskEntity,
  inference: InferenceEntity,
  inferenceStatus: InferenceStatus,
  tasks: BboxTaskState[],
) {
  const { bboxes, ...parameters } = row.request as { bboxes: number[][] } & Record<string, unknown>;
  const stages = (Object.keys(STAGES) as StageName[]).map((name) => stageView(name, tasks, inferenceStatus));
  const status = taskStatus(inferenceStatus, tasks);
  return {
    task_id: row.inferenceId,
    status,
    created_at: row.createdAt.toISOString(),
    updated_at: inference.updatedAt.toISOString(),
    model_type: row.modelType,
    model_id: inference.modelId,
    bbox_count: bboxes.length,
    bboxes,
    parameters,
    stages,
    error:
      status === 'failed'
        ? (stages.find((stage) => stage.error)?.error ?? inference.statusMessage ?? 'the task failed')
        : null,
    bbox_results: bboxes.map((bbox, index) => {
      const task = tasks.find((candidate) => candidate.task_index === index);
      return {
        bbox,
        task_id: task?.task_id ?? '',
        status: task?.status ?? 'WAITING',
        output_key: task?.output_key ?? null,
        error: task?.status === 'FAILED' ? (task.message ?? 'failed') : null,
      };
    }),
  };
}

export type InstageoTaskView = ReturnType<typeof instageoTaskView>;
