import { stepHeartbeat } from './runtime/activity-context';
import { InferenceEntity, ModelEntity, TaskEntity } from '../src/platform/database/entities';
import type { ActivityDeps } from './deps';
import { invalidInput, modelConfigurationError } from '../workflows/contract/errors';
import { CocoBuilder } from '../src/geo/export/coco';
import { decodeGeoTiff } from '../src/geo/raster/decode';
import { ownArrayBuffer } from '../src/geo/raster/buffers';
import type { Raster } from '../src/geo/raster/raster';
import { storageKeys } from '../src/platform/storage/keys';
import { maskNodata, taskTypeOf } from '../workflows/contract/model-spec';

export interface ExportCocoRequest {
  inferenceId: string;
  modelId: string;
}

export interface ExportCocoResult {
  cocoKey: string;
  images: number;
  annotations: number;
  /** Why nothing was exported (a regression model's outputs are continuous values, not object classes). */
  skipped?: string;
}

/** Masks downloaded and decoded ahead of the one being added (bounded: each holds a whole mask). */
const COCO_READ_AHEAD = 4;

export function createExportActivities(deps: ActivityDeps) {
  return {
    /**
     * `exportCoco`: one COCO JSON of the FINISHED tasks' output masks (read from storage a few ahead, added in task order) at
     * inferences/{id}/coco.json; the key is recorded on the inference. Rerunning overwrites it.
     */
    async exportCoco(request: ExportCocoRequest): Promise<ExportCocoResult> {
      const model = await deps.dataSource.getRepository(ModelEntity).findOneBy({ id: request.modelId });
      if (!model) throw modelConfigurationError(`model ${request.modelId} no longer exists`);
      const spec = model.modelInputDataSpec;
      if (taskTypeOf(spec) === 'regression')
        return {
          cocoKey: '',
          images: 0,
          annotations: 0,
          skipped: `model ${model.displayName} is a regression model: its outputs are continuous values, not object classes, so there is nothing to export as COCO`,
        };
      const tasks = await deps.dataSource.getRepository(TaskEntity).find({
        where: { inferenceId: request.inferenceId, status: 'FINISHED' },
        order: { taskIndex: 'ASC' },
      });
      const builder = new CocoBuilder({
        classes: spec.classes,
        skipValues: [maskNodata(spec)],
        description: `geo-inference ${model.displayName} inference ${request.inferenceId}`,
      });
      const prefix = storageKeys.inferencePrefix(request.inferenceId);
      const withOutput = tasks.filter((task) => task.outputKey);
      // Masks are read into memory a few ahead of the builder (downloads overlap), and added in task order.
      const ahead = new Map<number, Promise<Raster>>();
      const start = (index: number) => {
        if (index >= withOutput.length) return;
        const key = withOutput[index]!.outputKey!;
        const reading = deps.store.getObject(key).then((data) => decodeGeoTiff(ownArrayBuffer(data), key));
        reading.catch(() => undefined); // awaited in order below; an early exit must not leave it unhandled
        ahead.set(index, reading);
      };
      for (let index = 0; index < COCO_READ_AHEAD; index++) start(index);
      for (const [index, task] of withOutput.entries()) {
        const raster = await ahead.get(index)!;
        ahead.delete(index);
        start(index + COCO_READ_AHEAD);
        if (raster.dataType !== 'uint8')
          throw invalidInput(`${task.outputKey} is ${raster.dataType}, not a uint8 class mask`);
        builder.addImage({
          fileName: task.outputKey!.startsWith(prefix) ? task.outputKey!.slice(prefix.length) : task.outputKey!,
          width: raster.width,
          height: raster.height,
          mask: raster.bands[0] as Uint8Array,
          georef: raster.georef,
          extra: { task_id: task.taskId, output_key: task.outputKey },
        });
        stepHeartbeat({ masks_done: index + 1, masks_total: withOutput.length });
      }
      const dataset = builder.toJSON();
      const cocoKey = storageKeys.cocoExport(request.inferenceId);
      await deps.store.putObject(cocoKey, Buffer.from(JSON.stringify(dataset)), { contentType: 'application/json' });
      await deps.dataSource.getRepository(InferenceEntity).update({ id: request.inferenceId }, { cocoKey });
      return { cocoKey, images: dataset.images.length, annotations: dataset.annotations.length };
    },
  };
}
