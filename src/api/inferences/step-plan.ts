import { STEP_IDS, type StepId } from '../../../workflows/contract/status';

/** What decides the steps of a new inference. */
export interface StepPlanRequest {
  /** The inference runs a generic processor. */
  genericProcessor: boolean;
}

/** The steps every task of a new inference runs, in order (a retry keeps the plan its tasks were created with). */
export function stepPlan(request: StepPlanRequest): StepId[] {
  // The processor runs on the model output, just before the push (step numbers as in the contract).
  return request.genericProcessor
    ? [STEP_IDS.dataFetch, STEP_IDS.modelInference, STEP_IDS.genericProcessor, STEP_IDS.pushToGeoserver]
    : [STEP_IDS.dataFetch, STEP_IDS.modelInference, STEP_IDS.pushToGeoserver];
}
