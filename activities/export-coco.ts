import * as path from 'node:path';
import { currentActivity } from './lib/activity-context';
import { InferenceEntity, ModelEntity, TaskEntity } from '../src/database/entities';
import type { ActivityDeps } from './deps';
import { invalidInput, modelConfigurationError } from './errors';
import { CocoBuilder } from './lib/coco';
import { readGeoTiff } from './lib/raster';
import { storageKeys } from './lib/storage-keys';
import { withTempDir } from './lib/temp-dir';

export interface ExportCocoRequest {
  inferenceId: string;
  modelId: string;
}

export interface ExportCocoResult {
  cocoKey: string;
  images: number;
  annotations: number;
}

function heartbeat(details: unknown): void {
  currentActivity()?.heartbeat(details);
}

export function createExportActivities(deps: ActivityDeps) {
  return {
    /**
     * `exportCoco`: one COCO JSON of the FINISHED tasks' output masks (read from storage one at a time) at
     * inferences/{id}/coco.json; the key is recorded on the inference. Rerunning overwrites it.
     */
    async exportCoco(request: ExportCocoRequest): Promise<ExportCocoResult> {
      const model = await deps.dataSource.getRepository(ModelEntity).findOneBy({ id: request.modelId });
      if (!model) throw modelConfigurationError(`model ${request.modelId} no longer exists`);
      const spec = model.modelInputDataSpec;
      const tasks = await deps.dataSource.getRepository(TaskEntity).find({
        where: { inferenceId: request.inferenceId, status: 'FINISHED' },
        order: { taskIndex: 'ASC' },
      });
      const builder = new CocoBuilder({
        classes: spec.classes,
        skipValues: [spec.output_nodata ?? 255],
        description: `geo-inference ${model.displayName} inference ${request.inferenceId}`,
      });
      const prefix = storageKeys.inferencePrefix(request.inferenceId);
      await withTempDir('coco', async (dir) => {
        const file = path.join(dir, 'mask.tif');
        for (const [index, task] of tasks.entries()) {
          if (!task.outputKey) continue;
          await deps.store.downloadToFile(task.outputKey, file);
          const raster = await readGeoTiff(file);
          if (raster.dataType !== 'uint8') throw invalidInput(`${task.outputKey} is ${raster.dataType}, not a uint8 class mask`);
          builder.addImage({
            fileName: task.outputKey.startsWith(prefix) ? task.outputKey.slice(prefix.length) : task.outputKey,
            width: raster.width,
            height: raster.height,
            mask: raster.bands[0] as Uint8Array,
            georef: raster.georef,
            extra: { task_id: task.taskId, output_key: task.outputKey },
          });
          heartbeat({ masks_done: index + 1, masks_total: tasks.length });
        }
      });
      const dataset = builder.toJSON();
      const cocoKey = storageKeys.cocoExport(request.inferenceId);
      await deps.store.putObject(cocoKey, Buffer.from(JSON.stringify(dataset)), { contentType: 'application/json' });
      await deps.dataSource.getRepository(InferenceEntity).update({ id: request.inferenceId }, { cocoKey });
      return { cocoKey, images: dataset.images.length, annotations: dataset.annotations.length };
    },
  };
}
