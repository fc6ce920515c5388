/** Status values of the public REST contract (seed 000). */
export const INFERENCE_STATUSES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'STOPPED'] as const;
export type InferenceStatus = (typeof INFERENCE_STATUSES)[number];

export const TASK_STATUSES = ['WAITING', 'RUNNING', 'FINISHED', 'FAILED', 'STOPPED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export type StepStatus = TaskStatus;

export const MODEL_STATUSES = ['PENDING', 'READY', 'FAILED'] as const;
export type ModelStatus = (typeof MODEL_STATUSES)[number];

/** Pipeline step ids of the public contract, in plan order. */
export const STEP_IDS = {
  dataFetch: 'terrakit-data-fetch',
  modelInference: 'model-inference',
  genericProcessor: 'generic-python-processor',
  pushToGeoserver: 'push-to-geoserver',
} as const;
export type StepId = (typeof STEP_IDS)[keyof typeof STEP_IDS];
