import { ModelEntity } from '../src/database/entities';
import type { ActivityDeps } from './deps';
import { modelConfigurationError } from './errors';
import type { PublishResult } from './lib/publisher';
import { StepLog, withStepLog } from './lib/step-log';

export interface PushRequest {
  inferenceId: string;
  taskId: string;
  workflowId: string;
  modelId: string;
  rasterKey: string;
}

export function createPublishActivities(deps: ActivityDeps) {
  return {
    /** `push-to-geoserver`: publishes the task's final raster through the configured map publisher. */
    async pushToGeoserver(request: PushRequest): Promise<PublishResult> {
      const log = new StepLog(deps.store, request.inferenceId, request.taskId, 'push-to-geoserver');
      return withStepLog(log, async () => {
        const model = await deps.dataSource.getRepository(ModelEntity).findOneBy({ id: request.modelId });
        if (!model) throw modelConfigurationError(`model ${request.modelId} no longer exists`);
        const result = await deps.publisher.publish({
          inferenceId: request.inferenceId,
          taskId: request.taskId,
          modelId: model.id,
          modelDisplayName: model.displayName,
          rasterKey: request.rasterKey,
          geoserverPush: model.geoserverPush,
          classes: model.modelInputDataSpec.classes,
          outputNodata: model.modelInputDataSpec.output_nodata ?? 255,
        });
        log.info(`published ${result.workspace}:${result.layer_name} via ${result.publisher}`);
        return result;
      });
    },
  };
}
