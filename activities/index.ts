import type { ActivityDeps } from './deps';
import { createGenericProcessorActivities } from './generic-processor';
import { createExportActivities } from './export-coco';
import { createResultsExportActivities } from './export-results';
import { createModelInferenceActivities } from './model-inference';
import { createProjectionActivities } from './projection';
import { createPublishActivities } from './push-to-geoserver';
import { createDataFetchActivities } from './terrakit-data-fetch';
import { createWebhookActivities } from './webhook-delivery';

/** Builds every pipeline activity with its dependencies (one file per step). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDataFetchActivities(deps),
    ...createModelInferenceActivities(deps),
    ...createGenericProcessorActivities(deps),
    ...createPublishActivities(deps),
    ...createProjectionActivities(deps),
    ...createWebhookActivities(deps),
    ...createExportActivities(deps),
    ...createResultsExportActivities(deps),
  };
}

export type PipelineActivities = ReturnType<typeof createActivities>;
export type { ActivityDeps } from './deps';
export { StepFailureInterceptor } from './runtime/step-failure';
export { ActivityResilienceInterceptor, retryInfrastructure } from './runtime/infrastructure-retry';
