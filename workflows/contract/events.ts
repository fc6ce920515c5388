import type { InferenceStatus, StepId, StepStatus, TaskStatus } from './status';

/**
 * Live events of one inference, served as Server-Sent Events by GET /api/v2/inference/{id}/events
 * (docs/events.md). Each SSE message has `id:` (the event's sequence number, monotonic per inference),
 * `event:` (one of these types) and `data:` (the JSON payload below). Every payload has `at`: when the change
 * was recorded (ISO 8601).
 */
export const INFERENCE_EVENT_TYPES = [
  'inference.status',
  'task.status',
  'step.status',
  'step.progress',
  'task.output',
  'inference.end',
] as const;
export type InferenceEventType = (typeof INFERENCE_EVENT_TYPES)[number];

interface Recorded {
  at: string;
}

export interface InferenceStatusEvent extends Recorded {
  status: InferenceStatus;
  message: string | null;
}

export interface TaskStatusEvent extends Recorded {
  task_id: string;
  status: TaskStatus;
  message: string | null;
}

export interface StepStatusEvent extends Recorded {
  task_id: string;
  step_id: StepId;
  step_number: number;
  status: StepStatus;
  message: string | null;
}

/** A step's `progress` as projected on its pipeline step; fields the step does not report are null. */
export interface StepProgressEvent extends Recorded {
  task_id: string;
  step_id: StepId;
  step_number: number;
  done: number | null;
  total: number | null;
  unit: string | null;
  eta_seconds: number | null;
}

/** The task's output exists: `output_url` answers a signed download URL, `tile_url_template` serves XYZ tiles. */
export interface TaskOutputEvent extends Recorded {
  task_id: string;
  output_url: string;
  tile_url_template: string;
  tile_url_expires_at: string;
  map_url: string;
}

/** The inference reached a final status; the server closes the stream after it. */
export interface InferenceEndEvent extends Recorded {
  status: Extract<InferenceStatus, 'COMPLETED' | 'FAILED' | 'STOPPED'>;
}

export interface InferenceEventData {
  'inference.status': InferenceStatusEvent;
  'task.status': TaskStatusEvent;
  'step.status': StepStatusEvent;
  'step.progress': StepProgressEvent;
  'task.output': TaskOutputEvent;
  'inference.end': InferenceEndEvent;
}

/** Response of POST /api/v2/inference/{id}/events/token. */
export interface EventsTokenResponse {
  token: string;
  expires_at: string;
  /** The events URL with the token in its query, for EventSource (browsers cannot send headers). */
  events_url: string;
}

export function inferenceEventsUrl(apiBaseUrl: string, inferenceId: string): string {
  return `${apiBaseUrl}/api/v2/inference/${inferenceId}/events`;
}
