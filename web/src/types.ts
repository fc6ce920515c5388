/** Shapes of the answers the console reads (the controllers under src/api), on the shared contract types. */
import type { InferenceStatus, TaskStatus } from '../../workflows/contract/status';
import type { PipelineStepState, TaskInput } from '../../workflows/contract/types';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';
import type { TaskCounts } from '../../workflows/contract/task-counts';

export type { InferenceStatus, TaskStatus, PipelineStepState, ModelInputDataSpec };

export interface Page<T> {
  results: T[];
  total_records: number;
}

export interface Inference extends TaskCounts {
  id: string;
  model_display_name: string;
  model_id: string;
  description: string | null;
  location: string | null;
  spatial_domain: Record<string, unknown> | null;
  temporal_domain: string[];
  maxcc: number | null;
  generic_processor_id: string | null;
  post_processing: Record<string, boolean> | null;
  webhook_url: string | null;
  status: InferenceStatus;
  status_message: string | null;
  retries: number;
  workflow_id: string;
  temporal_ui_url: string;
  coco_url: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  created_by: string;
}

export interface Task {
  task_id: string;
  inference_id: string;
  task_index: number;
  status: TaskStatus;
  input: TaskInput;
  pipeline_steps: PipelineStepState[];
  output_key: string | null;
  message: string | null;
  outputs: Record<string, Record<string, unknown> | undefined>;
  tile_url_template: string | null;
  tile_url_expires_at?: string;
  map_url: string | null;
}

export interface TasksAnswer {
  inference_id: string;
  status: InferenceStatus;
  tasks: Task[];
  total_records: number;
}

/** What the built-in publisher reports in the push-to-geoserver step's result (README "Map tiles"). */
export interface TileSetResult {
  publisher?: string;
  bounds?: [number, number, number, number];
  minzoom?: number;
  maxzoom?: number;
  tile_path_template?: string | null;
  tiles_problem?: string;
  wms_url?: string;
}

export interface Model {
  id: string;
  display_name: string;
  description: string | null;
  status: 'PENDING' | 'READY' | 'FAILED';
  status_message: string | null;
  model_input_data_spec: ModelInputDataSpec;
  geoserver_push: Record<string, unknown> | null;
  model_file_path: string;
  model_file_sha256: string;
  model_file_size: number;
  onnx_signature: {
    inputs: Array<{ name: string; type?: string; dims: Array<number | string> }>;
    outputs: Array<{ name: string; type?: string; dims: Array<number | string> }>;
  } | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface Processor {
  id: string;
  name: string;
  description: string | null;
  processor_parameters: Record<string, unknown>;
  processor_file_path: string;
  status: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  processor_presigned_url?: string;
}

/** Live events of GET /api/v2/inference/{id}/events (Server-Sent Events), by event type. */
export interface LiveEvents {
  'inference.status': { status: InferenceStatus; message?: string | null };
  'task.status': { task_id: string; status: TaskStatus; message?: string | null };
  'step.status': {
    task_id: string;
    step_id: string;
    step_number: number;
    status: TaskStatus;
    message?: string | null;
  };
  'step.progress': {
    task_id: string;
    step_id: string;
    done: number;
    total: number;
    unit?: string;
    eta_seconds?: number | null;
  };
  'task.output': { task_id: string; output_url?: string | null; tile_url_template?: string | null };
  'inference.end': { status: InferenceStatus };
}

export type LiveEventType = keyof LiveEvents;

export const TERMINAL: readonly InferenceStatus[] = ['COMPLETED', 'FAILED', 'STOPPED'];
