import * as path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ModelEntity } from '../src/database/entities';
import type { ActivityDeps } from './deps';
import { invalidInput, modelConfigurationError } from './errors';
import { CogError, toCloudOptimizedGeoTiff } from './lib/cog';
import { ensureLocalModelFile } from './lib/model-cache';
import { InvalidGeoTiffError, readGeoTiff, writeMaskGeoTiff } from './lib/raster';
import { ModelShapeError, OnnxSegmenter } from './lib/segmentation';
import { StepLog, withStepLog } from './lib/step-log';
import { storageKeys } from './lib/storage-keys';
import { withTempDir } from './lib/temp-dir';

export interface ModelInferenceRequest {
  inferenceId: string;
  taskId: string;
  workflowId: string;
  modelId: string;
  inputKey: string;
}

export interface ModelInferenceResult {
  outputKey: string;
  width: number;
  height: number;
  tiles: number;
  class_pixel_counts: Record<string, number>;
}

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function createModelInferenceActivities(deps: ActivityDeps) {
  return {
    /** `model-inference`: runs the ONNX model tile by tile and stores a mask on the input's grid. */
    async runModelInference(request: ModelInferenceRequest): Promise<ModelInferenceResult> {
      const log = new StepLog(deps.store, request.inferenceId, request.taskId, 'model-inference');
      return withStepLog(log, async () => {
        const model = await deps.dataSource.getRepository(ModelEntity).findOneBy({ id: request.modelId });
        if (!model) throw modelConfigurationError(`model ${request.modelId} no longer exists`);
        const spec = model.modelInputDataSpec;
        const modelPath = await ensureLocalModelFile(deps.store, path.join(deps.config.DATA_DIR, 'cache', 'models'), model.id, model.fileKey, model.fileSha256);
        return withTempDir('infer', async (dir) => {
          const inputFile = path.join(dir, 'input.tif');
          await deps.store.downloadToFile(request.inputKey, inputFile);
          const raster = await readGeoTiff(inputFile).catch((error: unknown) => {
            if (error instanceof InvalidGeoTiffError) throw invalidInput(`the input is not a readable GeoTIFF: ${error.message}`, error);
            throw error;
          });
          const highestBand = Math.max(...spec.bands.map((band, index) => band.source_index ?? index + 1));
          if (highestBand > raster.bandCount) {
            throw invalidInput(
              `model ${model.displayName} needs band ${highestBand} (${spec.bands.map((band) => band.name).join(', ')}) but the input has ${raster.bandCount} band(s)`,
            );
          }
          // A model whose shape disagrees with its spec fails the same way on every attempt: not retryable.
          const asModelError = (error: unknown): never => {
            throw error instanceof ModelShapeError ? modelConfigurationError(error.message) : error;
          };
          const segmenter = await OnnxSegmenter.load(modelPath, spec, {
            intraOpThreads: deps.config.ONNX_INTRA_OP_THREADS,
            batchSize: deps.config.INFERENCE_BATCH_SIZE,
          }).catch(asModelError);
          const context = activityContext();
          let tiles = 0;
          log.info(`model ${model.displayName} (${model.fileSha256.slice(0, 12)}), input ${raster.width}x${raster.height}`);
          const mask = await segmenter.segment(raster, {
            // Heartbeats carry progress and let Temporal notice a dead worker within the heartbeat timeout.
            onProgress: (done, total) => {
              tiles = total;
              context?.heartbeat({ tiles_done: done, tiles_total: total });
            },
            signal: context?.cancellationSignal,
          }).catch(asModelError);
          const maskFile = path.join(dir, 'mask.tif');
          const outputFile = path.join(dir, 'model-output.tif');
          const outputNodata = spec.output_nodata ?? 255;
          // Uncompressed intermediate: GDAL compresses the COG anyway.
          await writeMaskGeoTiff(maskFile, mask, raster.width, raster.height, raster.georef, { nodata: outputNodata, compression: 'none' });
          // Published outputs are Cloud-Optimized GeoTIFFs (tiled, DEFLATE, nearest-neighbour overviews).
          await toCloudOptimizedGeoTiff(maskFile, outputFile, { gdalBinDir: deps.config.GDAL_BIN_DIR, resampling: 'NEAREST', signal: context?.cancellationSignal }).catch((error: unknown) => {
            throw error instanceof CogError && error.setupProblem ? ApplicationFailure.nonRetryable(error.message, 'WorkerConfigurationError') : error;
          });
          const outputKey = storageKeys.modelOutput(request.inferenceId, request.taskId);
          await deps.store.putFile(outputKey, outputFile, { contentType: 'image/tiff' });
          const counts: Record<string, number> = {};
          const names = new Map(spec.classes.map((entry) => [entry.value, entry.name]));
          for (const value of mask) {
            const name = names.get(value) ?? (value === outputNodata ? 'nodata' : String(value));
            counts[name] = (counts[name] ?? 0) + 1;
          }
          log.info(`${tiles} tiles, class pixel counts ${JSON.stringify(counts)}`);
          return { outputKey, width: raster.width, height: raster.height, tiles, class_pixel_counts: counts };
        });
      });
    },
  };
}
