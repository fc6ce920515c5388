import { stepHeartbeat } from './runtime/activity-context';
import { InferenceEntity, ModelEntity, TaskEntity } from '../src/platform/database/entities';
import type { ActivityDeps } from './deps';
import { invalidInput, modelConfigurationError } from '../workflows/contract/errors';
import * as path from 'node:path';
import { CocoBuilder } from '../src/geo/export/coco';
import { addWindowedImage } from '../src/geo/export/coco-windowed';
import { writeCocoJson } from '../src/geo/export/coco-json';
import { openMaskRows } from '../src/geo/raster/mask-rows';
import { withTempDir } from '../src/platform/temp-dir';
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

/** Masks downloaded (to files) ahead of the one being added. */
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
      // Masks are downloaded to files a few ahead of the builder (downloads overlap), and added in task order,
      // each read in strips of rows: a whole Sentinel-2 tile's mask is never decoded whole.
      await withTempDir('coco', async (dir) => {
        const ahead = new Map<number, Promise<string>>();
        const start = (index: number) => {
          if (index >= withOutput.length) return;
          const file = path.join(dir, `mask-${index}.tif`);
          const downloading = deps.store.downloadToFile(withOutput[index]!.outputKey!, file).then(() => file);
          downloading.catch(() => undefined); // awaited in order below; an early exit must not leave it unhandled
          ahead.set(index, downloading);
        };
        for (let index = 0; index < COCO_READ_AHEAD; index++) start(index);
        try {
          for (const [index, task] of withOutput.entries()) {
            const file = await ahead.get(index)!;
            ahead.delete(index);
            start(index + COCO_READ_AHEAD);
            const mask = await openMaskRows(file, task.outputKey!);
            try {
              if (mask.dataType !== 'uint8')
                throw invalidInput(`${task.outputKey} is ${mask.dataType}, not a uint8 class mask`);
              await addWindowedImage(
                builder,
                {
                  fileName: task.outputKey!.startsWith(prefix) ? task.outputKey!.slice(prefix.length) : task.outputKey!,
                  width: mask.width,
                  height: mask.height,
                  readRows: mask.readRows,
                  stripRows: mask.stripRows,
                  georef: mask.georef,
                  extra: { task_id: task.taskId, output_key: task.outputKey },
                },
                { heartbeat: () => stepHeartbeat({ masks_done: index, masks_total: withOutput.length }) },
              );
            } finally {
              await mask.close();
            }
            stepHeartbeat({ masks_done: index + 1, masks_total: withOutput.length });
          }
        } finally {
          await Promise.allSettled(ahead.values());
        }
      });
      const dataset = builder.toJSON();
      const cocoKey = storageKeys.cocoExport(request.inferenceId);
      await withTempDir('coco-json', async (dir) => {
        const file = path.join(dir, 'coco.json');
        await writeCocoJson(dataset, file);
        await deps.store.putFile(cocoKey, file, { contentType: 'application/json' });
      });
      await deps.dataSource.getRepository(InferenceEntity).update({ id: request.inferenceId }, { cocoKey });
      return { cocoKey, images: dataset.images.length, annotations: dataset.annotations.length };
    },
  };
}
