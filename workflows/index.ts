// Entry point bundled by the Temporal worker: deterministic workflow code only.
export { inferenceWorkflow, inferenceStatusQuery } from './inference.workflow';
