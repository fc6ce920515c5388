import type { DataSourceId } from './imagery-sources';
import type { InferenceStatus, StepId, StepStatus, TaskStatus } from './status';

export type { DataSourceId } from './imagery-sources';

/**
 * One area x one date of a bbox / polygons / tiles request (a "bbox x date chip"): the data-fetch step
 * searches the data source's STAC API and builds a model-ready chip covering `bbox` (WGS84).
 */
export interface StacTaskInput {
  kind: 'stac';
  data_source: DataSourceId;
  /** The request entry this area comes from, for messages: "spatial_domain.bbox[0]", "spatial_domain.tiles[1] 33UXP". */
  area_label: string;
  bbox: [number, number, number, number];
  /** Polygons: searched with `intersects`; chip pixels outside become nodata. GeoJSON in WGS84. */
  geometry?: { type: 'Polygon'; coordinates: number[][][] } | { type: 'MultiPolygon'; coordinates: number[][][][] };
  /** Tiles: only items of this MGRS tile, e.g. "33UXP". */
  mgrs_tile?: string;
  /** The temporal_domain entry as given, and its RFC 3339 interval. */
  date: string;
  datetime: string;
  maxcc: number;
  /** Time series models: the stack this task builds (the model's values with the request's overrides). */
  temporal?: TaskTemporal;
}

/** A task's frames: `num_steps` target dates `temporal_step` days apart, ending on the requested date (docs/temporal.md). */
export interface TaskTemporal {
  num_steps: number;
  temporal_step: number;
  temporal_tolerance: number;
}

/** One GeoTIFF of a time series given by URL or upload, oldest first. */
export type SeriesFrameInput = { kind: 'url'; url: string } | { kind: 'object'; key: string; file_name: string };

/** One input unit of an inference; each becomes one task that runs the whole step plan. */
export type TaskInput =
  | { kind: 'url'; url: string }
  | { kind: 'object'; key: string; file_name: string }
  | StacTaskInput
  /** A time series as one GeoTIFF per frame (same grid, oldest first): stacked time-major by the data-fetch step. */
  | { kind: 'series'; frames: SeriesFrameInput[] };

export interface PipelineStepState {
  process_id: StepId;
  step_number: number;
  status: StepStatus;
  started_at?: string;
  finished_at?: string;
  /** Readable reason when FAILED or STOPPED. */
  message?: string;
  /** Small JSON summary the step returned (object keys, counts), never raster bytes. */
  result?: Record<string, unknown>;
  /**
   * How far a running step is: written by the step into the DB projection (about every second), and signalled
   * to the workflow (STEP_PROGRESS_SIGNAL, every few seconds for steps that run longer), so the query has it too.
   */
  progress?: StepProgress;
}

/** A step's progress: `total` and `eta_seconds` are null until known (`unit`: tiles, bytes, masks). */
export interface StepProgress {
  done: number;
  total: number | null;
  unit: string;
  eta_seconds: number | null;
}

export interface TaskPlan {
  task_id: string;
  task_index: number;
  input: TaskInput;
}

export interface TaskState {
  task_id: string;
  task_index: number;
  status: TaskStatus;
  pipeline_steps: PipelineStepState[];
  /** Object-storage key of the latest raster produced by the task (input of the next step). */
  current_key?: string;
  /** Object-storage key of the task's final output (the raster that was published). */
  output_key?: string;
  message?: string;
}

/** The generic processor of an inference, fixed when the inference is created (a later delete does not affect it). */
export interface ProcessorPlan {
  id: string;
  name: string;
  /** Object-storage key of the script. */
  file_key: string;
  file_name: string;
  /** `processor_parameters`, passed to the script as its third argument (JSON), and to a lifecycle's setup. */
  parameters: Record<string, unknown>;
  /** How it runs (absent in workflows started before lifecycles: a script). */
  style?: 'script' | 'lifecycle';
  /** Whose inference runs it: warm lifecycle processes are never shared between users. */
  user?: string;
}

/** Set when the inference has a webhook: how to reach the API in links, and how hard to retry. */
export interface WebhookPlan {
  apiBaseUrl: string;
  temporalUiUrl: string;
  maximumAttempts: number;
  initialIntervalSeconds: number;
  maximumIntervalSeconds: number;
}

/** Task queues of the step kinds, so each can have its own pool of worker processes. */
export interface StepTaskQueues {
  fetch: string;
  model: string;
  processor: string;
}

export interface InferenceWorkflowInput {
  inferenceId: string;
  modelId: string;
  tasks: TaskPlan[];
  steps: StepId[];
  /** How many tasks of this inference run at once. */
  taskConcurrency: number;
  webhook?: WebhookPlan;
  /** Where each step kind runs; unset: the workflow's own task queue. */
  taskQueues?: StepTaskQueues;
  /** Set when the step plan has `generic-python-processor`. */
  processor?: ProcessorPlan;
  /** Inferences with more tasks than this run them in child workflows of this many tasks each. */
  batchSize?: number;
  /** How many child workflows (batches) run at once. */
  batchConcurrency?: number;
  /**
   * Above 1: tasks go through the data-fetch, model and publish steps in groups of this many, one activity
   * per group and step (each task keeps its own outcome). Unset in workflows started before grouping.
   */
  stepGroupSize?: number;
  /** Grouped model runs take tasks up to this many input values (width x height x bands) per activity. */
  stepGroupValues?: number;
  /**
   * A retry: the task states of the previous run, by task index. FINISHED tasks are kept as they are;
   * other tasks rerun from their first unfinished step, reusing the outputs of the steps that finished.
   */
  resume?: TaskState[];
  /** The server has the InferenceStatus/ModelId/CreatedBy search attributes: keep InferenceStatus current. */
  searchAttributes?: boolean;
}

/** Input of a child workflow running one batch of an inference's tasks. */
export interface TaskBatchWorkflowInput {
  parent: Omit<InferenceWorkflowInput, 'tasks' | 'webhook' | 'resume' | 'searchAttributes'>;
  tasks: TaskPlan[];
  resume?: TaskState[];
}

export interface TaskBatchWorkflowResult {
  tasks: TaskState[];
  cancelled: boolean;
}

export interface InferenceWorkflowState {
  inference_id: string;
  status: InferenceStatus;
  message?: string;
  tasks: TaskState[];
  webhook?: { status: 'SENDING' | 'DELIVERED' | 'FAILED' | 'SKIPPED'; message?: string };
  /** COCO export of the finished tasks' masks (storage key), or why it failed. */
  coco?: { key?: string; annotations?: number; error?: string; skipped?: string };
  /** STAC catalog, vectors and previews of the finished tasks (the Collection's storage key), or why they failed. */
  results?: { key?: string; items?: number; features?: number; error?: string };
}

/** Name of the workflow query returning InferenceWorkflowState. */
export const INFERENCE_STATUS_QUERY = 'inferenceStatus';

/**
 * Signal a running step sends its workflow, every few seconds while it runs longer than that, so the
 * `inferenceStatus` query shows its progress (GET .../tasks also reads the steps' own writes to the DB).
 */
export const STEP_PROGRESS_SIGNAL = 'stepProgress';

export interface StepProgressSignal {
  task_id: string;
  /** The step's process_id. */
  step_id: string;
  progress: StepProgress;
}
export const INFERENCE_WORKFLOW_TYPE = 'inferenceWorkflow';
export const TASK_BATCH_WORKFLOW_TYPE = 'inferenceTaskBatchWorkflow';
