// Entry point bundled by the Temporal worker: deterministic workflow code only.
export { inferenceStatusQuery, inferenceTaskBatchWorkflow, inferenceWorkflow } from './inference.workflow';
