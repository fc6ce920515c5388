import { ModelEntity, TaskEntity } from '../src/platform/database/entities';
import type { ActivityDeps } from './deps';
import { modelConfigurationError } from '../workflows/contract/errors';
import type { PublishResult } from '../src/geo/publish/publisher';
import { runGroupItems, type GroupStepResult } from './runtime/step-group';
import { StepLog, withStepLog } from './runtime/step-log';
import { maskNodata, taskTypeOf, type ModelInputDataSpec } from '../workflows/contract/model-spec';
import { displayRange } from '../src/geo/tiles/legend';

/** Regression without `rescale`: the first output band's value range from the task's model-inference result. */
async function valueRangeOf(deps: ActivityDeps, spec: ModelInputDataSpec, taskId: string) {
  if (taskTypeOf(spec) !== 'regression' || spec.rescale) return undefined;
  const task = await deps.dataSource.getRepository(TaskEntity).findOneBy({ taskId });
  const result = task?.outputs?.['model-inference'] as
    { value_stats?: Array<{ min: number | null; max: number | null }> } | undefined;
  return result?.value_stats?.[0];
}

/** Regression: the style's colour ramp (colormap over rescale, else the given value range). */
function rampOf(spec: ModelInputDataSpec, observed: { min: number | null; max: number | null } | undefined) {
  if (taskTypeOf(spec) !== 'regression') return {};
  const [min, max] = displayRange(spec, observed);
  return {
    ramp: {
      ...(spec.colormap ? { colormap: spec.colormap } : {}),
      min,
      max,
      ...(spec.units ? { units: spec.units } : {}),
    },
  };
}

export interface PushRequest {
  inferenceId: string;
  taskId: string;
  workflowId: string;
  modelId: string;
  rasterKey: string;
}

/** `push-to-geoserver` for several tasks of one inference in one activity (see lib/step-group.ts). */
export interface PushManyRequest {
  inferenceId: string;
  workflowId: string;
  modelId: string;
  items: Array<{ taskId: string; rasterKey: string }>;
}

/** Layers published at once by a grouped publish activity (HTTP round trips to GeoServer or storage). */
const PUBLISH_GROUP_CONCURRENCY = 4;

async function findModel(deps: ActivityDeps, modelId: string): Promise<ModelEntity> {
  const model = await deps.dataSource.getRepository(ModelEntity).findOneBy({ id: modelId });
  if (!model) throw modelConfigurationError(`model ${modelId} no longer exists`);
  return model;
}

async function publishTask(
  deps: ActivityDeps,
  model: ModelEntity,
  request: PushRequest,
  log: StepLog,
): Promise<PublishResult> {
  const result = await deps.publisher.publish({
    inferenceId: request.inferenceId,
    taskId: request.taskId,
    modelId: model.id,
    modelDisplayName: model.displayName,
    rasterKey: request.rasterKey,
    geoserverPush: model.geoserverPush,
    classes: model.modelInputDataSpec.classes,
    outputNodata: maskNodata(model.modelInputDataSpec),
    ...rampOf(model.modelInputDataSpec, await valueRangeOf(deps, model.modelInputDataSpec, request.taskId)),
  });
  log.info(`published ${result.workspace}:${result.layer_name} via ${result.publisher}`);
  return result;
}

export function createPublishActivities(deps: ActivityDeps) {
  return {
    /** `push-to-geoserver`: publishes the task's final raster through the configured map publisher. */
    async pushToGeoserver(request: PushRequest): Promise<PublishResult> {
      const log = new StepLog(deps.dataSource, request.taskId, 'push-to-geoserver');
      return withStepLog(log, async () => publishTask(deps, await findModel(deps, request.modelId), request, log));
    },

    /** `push-to-geoserver` of several tasks: the model is read once, each task has its own outcome and log. */
    async pushToGeoservers(request: PushManyRequest): Promise<GroupStepResult<PublishResult>> {
      const model = await findModel(deps, request.modelId);
      return runGroupItems(request.items, PUBLISH_GROUP_CONCURRENCY, (item) => {
        const log = new StepLog(deps.dataSource, item.taskId, 'push-to-geoserver');
        const task: PushRequest = {
          inferenceId: request.inferenceId,
          workflowId: request.workflowId,
          modelId: request.modelId,
          taskId: item.taskId,
          rasterKey: item.rasterKey,
        };
        return withStepLog(log, () => publishTask(deps, model, task, log));
      });
    },
  };
}
