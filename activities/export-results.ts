import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import { stepHeartbeat } from './runtime/activity-context';
import { GenericProcessorEntity, InferenceEntity, ModelEntity, TaskEntity } from '../src/platform/database/entities';
import type { ActivityDeps } from './deps';
import { modelConfigurationError } from '../workflows/contract/errors';
import { maskNodata, probabilitiesType, taskTypeOf, type ModelInputDataSpec } from '../workflows/contract/model-spec';
import { probabilitiesAsset, regressionBands } from './stac-continuous';
import type { ProcessorPlan, TaskInput } from '../workflows/contract/types';
import { readGeoTiff } from '../src/geo/raster/decode';
import { affineOf, epsgOf } from '../src/geo/raster/georeference';
import type { Raster } from '../src/geo/raster/raster';
import { vectorizeMask } from '../src/geo/export/vectors';
import { writeVectorFiles, type VectorFilesSummary } from '../src/geo/export/vector-files';
import {
  COG_MEDIA_TYPE,
  FLATGEOBUF_MEDIA_TYPE,
  GEOJSON_MEDIA_TYPE,
  GEOTIFF_MEDIA_TYPE,
  inferenceCollection,
  taskItem,
  type Provenance,
  type ProvenanceSource,
  type StacAssetRef,
  type StacItem,
} from '../src/geo/export/stac-catalog';
import { classColourMap } from '../src/geo/tiles/cog-tiles';
import { encodePalettePng } from '../src/geo/tiles/png';
import { bandsPerFrame } from '../src/geo/model/temporal-input';
import { runChipScript, type ChipMetadata } from '../src/geo/stac/stac-fetch';
import { BuiltInPublisher, type PublishResult } from '../src/geo/publish/publisher';
import { storageKeys } from '../src/platform/storage/keys';
import { withTempDir } from '../src/platform/temp-dir';
import { codeVersion } from '../src/platform/code-version';
import { countOnnxParameters } from '../src/geo/export/onnx-parameters';

export interface ExportResultsRequest {
  inferenceId: string;
  modelId: string;
  /** The processor the inference ran (its plan), for the provenance. */
  processor?: ProcessorPlan;
}

/** What the export wrote for one task; also stored in the task's step results (`outputs.results`). */
export interface TaskResults {
  stac_item_key: string;
  vectors: (VectorFilesSummary & { geojson_key: string; fgb_key: string }) | null;
  thumbnail_key: string | null;
  input_preview_key: string | null;
  input_preview: { bands: string[]; stretch: number[][]; percentiles: number[] } | null;
  /** The preview's GeoServer layer when GeoServer is configured (or why publishing it failed). */
  input_preview_layer?: PublishResult | { error: string };
  provenance: Provenance;
}

export interface ExportResultsResult {
  collectionKey: string;
  items: number;
  features: number;
}

/** The thumbnail's longest side in pixels. */
const THUMBNAIL_SIZE = 256;

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The prediction as a nearest-neighbour thumbnail in the classes' colours (nodata transparent). */
export function thumbnail(raster: Raster, spec: ModelInputDataSpec): Buffer {
  const scale = Math.max(1, Math.max(raster.width, raster.height) / THUMBNAIL_SIZE);
  const width = Math.max(1, Math.round(raster.width / scale));
  const height = Math.max(1, Math.round(raster.height / scale));
  const colours = classColourMap(spec.classes, maskNodata(spec));
  const band = raster.bands[0]!;
  const indices = new Uint8Array(width * height);
  for (let row = 0; row < height; row++) {
    const sourceRow = Math.min(raster.height - 1, Math.floor((row + 0.5) * scale));
    for (let col = 0; col < width; col++) {
      const sourceCol = Math.min(raster.width - 1, Math.floor((col + 0.5) * scale));
      indices[row * width + col] = colours.indexOf(band[sourceRow * raster.width + sourceCol]!);
    }
  }
  return encodePalettePng(width, height, indices, colours.palette);
}

const TRUE_COLOUR_NAMES = [
  ['red', 'b04', 'b4', 'r'],
  ['green', 'b03', 'b3', 'g'],
  ['blue', 'b02', 'b2', 'b'],
];

/** The 1-based input bands of the preview (the spec's choice, else red/green/blue by name), or null. */
export function previewBands(spec: ModelInputDataSpec): { names: string[]; indexes: number[] } | null {
  const indexOf = (name: string) => {
    const position = spec.bands.findIndex((band) => band.name.toLowerCase() === name.toLowerCase());
    return position < 0 ? -1 : (spec.bands[position]!.source_index ?? position + 1);
  };
  const names =
    spec.preview?.bands ??
    TRUE_COLOUR_NAMES.map(
      (aliases) => spec.bands.find((band) => aliases.includes(band.name.toLowerCase()))?.name ?? '',
    );
  const indexes = names.map(indexOf);
  return indexes.every((index) => index > 0) ? { names, indexes } : null;
}

/**
 * The Item's time: the source scenes' datetimes; uploads and URLs have none, so the inference's temporal
 * domain (dates or date ranges) stands in, and without one its creation time.
 */
export function itemTime(
  sources: ProvenanceSource[],
  temporalDomain: string[],
  createdAt: string,
): { datetime: string } | { start: string; end: string } {
  let instants = sources
    .map((source) => (source.kind === 'stac' ? source.datetime : null))
    .filter((value): value is string => Boolean(value));
  if (instants.length === 0)
    instants = temporalDomain
      .flatMap((entry) => entry.split(/\/|_/))
      .map((part) => Date.parse(part.trim()))
      .filter((time) => Number.isFinite(time))
      .map((time) => new Date(time).toISOString());
  instants.sort();
  if (instants.length === 0) return { datetime: createdAt };
  if (instants[0] === instants[instants.length - 1]) return { datetime: instants[0]! };
  return { start: instants[0]!, end: instants[instants.length - 1]! };
}

export function createResultsExportActivities(deps: ActivityDeps) {
  /** The source scenes of a task's input: the STAC item the chip came from, or the upload / URL. */
  async function sourcesOf(inferenceId: string, task: TaskEntity): Promise<ProvenanceSource[]> {
    const input = task.input as TaskInput;
    if (input.kind === 'url') return [{ kind: 'url', url: input.url }];
    if (input.kind === 'object') return [{ kind: 'object', file_name: input.file_name, key: input.key }];
    // A time series given as files: every frame is a source, oldest first.
    if (input.kind === 'series')
      return input.frames.map((frame) =>
        frame.kind === 'url'
          ? { kind: 'url', url: frame.url }
          : { kind: 'object', file_name: frame.file_name, key: frame.key },
      );
    const metadataKey = storageKeys.taskChipMetadata(inferenceId, task.taskId);
    const chip = (await deps.store.exists(metadataKey))
      ? (JSON.parse((await deps.store.getObject(metadataKey)).toString('utf8')) as ChipMetadata)
      : undefined;
    // A time series chip: every frame's scene (the Item's start/end_datetime span them).
    if (chip?.frames)
      return chip.frames.map((frame) => ({
        kind: 'stac',
        data_source: chip.data_source,
        collection: frame.collection ?? null,
        item_id: frame.item_id,
        datetime: frame.datetime,
        cloud_cover: frame.cloud_cover ?? null,
      }));
    return [
      {
        kind: 'stac',
        data_source: chip?.data_source ?? input.data_source,
        collection: chip?.collection ?? null,
        item_id: chip?.item_id ?? 'unknown',
        datetime: chip?.datetime ?? null,
        cloud_cover: chip?.cloud_cover ?? null,
      },
    ];
  }

  async function processorProvenance(plan: ProcessorPlan | undefined): Promise<Provenance['processor']> {
    if (!plan) return null;
    const hash = createHash('sha256')
      .update(await deps.store.getObject(plan.file_key))
      .digest('hex');
    return { id: plan.id, name: plan.name, file_name: plan.file_name, file_sha256: hash, parameters: plan.parameters };
  }

  return {
    /**
     * `exportResults`: for each FINISHED task, vectors (GeoJSON + FlatGeobuf), a thumbnail, the input preview
     * COG, provenance and a STAC Item beside its outputs; then the inference's STAC Collection. Everything is
     * derived from stored outputs, so rerunning rewrites the same bytes (Item timestamps aside).
     */
    async exportResults(request: ExportResultsRequest): Promise<ExportResultsResult> {
      const tasksRepository = deps.dataSource.getRepository(TaskEntity);
      const model = await deps.dataSource.getRepository(ModelEntity).findOneBy({ id: request.modelId });
      if (!model) throw modelConfigurationError(`model ${request.modelId} no longer exists`);
      const inference = await deps.dataSource.getRepository(InferenceEntity).findOneBy({ id: request.inferenceId });
      if (!inference) throw modelConfigurationError(`inference ${request.inferenceId} no longer exists`);
      // A processor deleted since keeps its row (soft delete); its plan is the snapshot the run used.
      const processorRow = request.processor
        ? await deps.dataSource
            .getRepository(GenericProcessorEntity)
            .findOne({ where: { id: request.processor.id }, withDeleted: true })
        : null;
      const processor = await processorProvenance(
        request.processor ? { ...request.processor, name: processorRow?.name ?? request.processor.name } : undefined,
      );
      const spec = model.modelInputDataSpec;
      const nodata = maskNodata(spec);
      const tasks = (
        await tasksRepository.find({
          where: { inferenceId: request.inferenceId, status: 'FINISHED' },
          order: { taskIndex: 'ASC' },
        })
      ).filter((task) => task.outputKey);
      const totalParameters = await withTempDir('model', async (dir) => {
        const file = path.join(dir, 'model.onnx');
        await deps.store.downloadToFile(model.fileKey, file);
        return countOnnxParameters(file);
      });
      const items: StacItem[] = [];
      let features = 0;
      for (const [index, task] of tasks.entries()) {
        const results = await withTempDir('results', async (dir) => {
          const outputFile = path.join(dir, 'output.tif');
          await deps.store.downloadToFile(task.outputKey!, outputFile);
          const raster = await readGeoTiff(outputFile);
          const epsg = epsgOf(raster.georef);
          const transform = affineOf(raster.georef) ?? [1, 0, 0, 0, 1, 0];
          const keys = {
            item: storageKeys.stacItem(request.inferenceId, task.taskId),
            geojson: storageKeys.taskVectors(request.inferenceId, task.taskId, 'geojson'),
            fgb: storageKeys.taskVectors(request.inferenceId, task.taskId, 'fgb'),
            thumbnail: storageKeys.taskThumbnail(request.inferenceId, task.taskId),
            preview: storageKeys.taskInputPreview(request.inferenceId, task.taskId),
            input: storageKeys.taskInput(request.inferenceId, task.taskId),
          };
          const segmentation = raster.dataType === 'uint8' && raster.bandCount === 1;
          let vectors: TaskResults['vectors'] = null;
          if (segmentation && affineOf(raster.georef)) {
            const files = { geojsonPath: path.join(dir, 'vectors.geojson'), fgbPath: path.join(dir, 'vectors.fgb') };
            const summary = await writeVectorFiles(
              vectorizeMask(raster, {
                classes: spec.classes,
                skipValues: [nodata],
                simplifyTolerance: spec.vectors?.simplify_tolerance ?? 0,
              }),
              { ...files, epsg },
            );
            await deps.store.putFile(keys.geojson, files.geojsonPath, { contentType: GEOJSON_MEDIA_TYPE });
            await deps.store.putFile(keys.fgb, files.fgbPath, { contentType: FLATGEOBUF_MEDIA_TYPE });
            vectors = { ...summary, geojson_key: keys.geojson, fgb_key: keys.fgb };
            features += summary.features;
          }
          stepHeartbeat({ tasks_done: index, tasks_total: tasks.length, phase: 'vectors written' });
          let thumbnailKey: string | null = null;
          if (segmentation) {
            await deps.store.putObject(keys.thumbnail, thumbnail(raster, spec), { contentType: 'image/png' });
            thumbnailKey = keys.thumbnail;
          }
          // The input preview needs the input's red, green and blue (or the spec's) bands.
          let preview: TaskResults['input_preview'] = null;
          let previewLayer: TaskResults['input_preview_layer'];
          const bands = previewBands(spec);
          const hasInput = await deps.store.exists(keys.input);
          if (bands && hasInput) {
            const inputFile = path.join(dir, 'input.tif');
            await deps.store.downloadToFile(keys.input, inputFile);
            const previewFile = path.join(dir, 'input-preview.tif');
            const made = await runChipScript<{ stretch: number[][]; percentiles: number[] }>(deps.config, {
              command: 'preview',
              source: inputFile,
              out: previewFile,
              bands: bands.indexes,
              ...(spec.temporal ? { bands_per_frame: bandsPerFrame(spec) } : {}),
              percentiles: spec.preview?.percentiles ?? [2, 98],
              ...(spec.nodata !== undefined ? { nodata: spec.nodata } : {}),
            });
            await deps.store.putFile(keys.preview, previewFile, { contentType: 'image/tiff' });
            preview = { bands: bands.names, stretch: made.stretch, percentiles: made.percentiles };
            stepHeartbeat({ tasks_done: index, tasks_total: tasks.length, phase: 'input preview written' });
            // With GeoServer, the preview is a layer beside the prediction's (`{layer}_input`); the built-in
            // tiles serve it as `layer=input-preview` without publishing. A failure is recorded, not fatal.
            if (!(deps.publisher instanceof BuiltInPublisher)) {
              const push = model.geoserverPush;
              try {
                previewLayer = await deps.publisher.publish({
                  inferenceId: request.inferenceId,
                  taskId: task.taskId,
                  modelId: model.id,
                  modelDisplayName: model.displayName,
                  rasterKey: keys.preview,
                  geoserverPush: {
                    workspace: push?.workspace ?? 'geo_inference',
                    layer_name: `${push?.layer_name ?? '{model}_{task_id}'}_input`,
                    ...(push?.store ? { store: `${push.store}_input` } : {}),
                  },
                  trueColour: true,
                });
              } catch (error) {
                previewLayer = { error: (error as Error).message };
              }
            }
          }
          const sources = await sourcesOf(request.inferenceId, task);
          const provenance: Provenance = {
            model: {
              id: model.id,
              name: model.displayName,
              file_name: model.fileName,
              file_sha256: model.fileSha256,
              file_size: Number(model.fileSize),
              total_parameters: totalParameters,
              input_spec: spec,
            },
            sources,
            chip_grid: {
              crs: epsg === null ? null : `EPSG:${epsg}`,
              transform,
              width: raster.width,
              height: raster.height,
            },
            post_processing: inference.postProcessing ?? {},
            processor,
            code_version: codeVersion(),
            output_sha256: await sha256OfFile(outputFile),
          };
          const others: Record<string, StacAssetRef> = {};
          const modelOutputKey = storageKeys.modelOutput(request.inferenceId, task.taskId);
          if (task.outputKey !== modelOutputKey && (await deps.store.exists(modelOutputKey)))
            others['model-output'] = {
              href: 'model-output.tif',
              type: COG_MEDIA_TYPE,
              roles: ['data'],
              title: 'Model output before the processor',
            };
          if (hasInput)
            others.input = {
              href: 'input.tif',
              type: GEOTIFF_MEDIA_TYPE,
              roles: ['source'],
              title: 'Model input (chip)',
            };
          if (preview)
            others['input-preview'] = {
              href: 'input-preview.tif',
              type: COG_MEDIA_TYPE,
              roles: ['overview', 'visual'],
              title: `Input preview (${preview.bands.join(', ')}, ${preview.percentiles.join('-')} % stretch)`,
            };
          if (vectors) {
            others.vectors = {
              href: 'vectors.geojson',
              type: GEOJSON_MEDIA_TYPE,
              roles: ['data'],
              title: 'Predicted polygons (WGS 84)',
            };
            others['vectors-fgb'] = {
              href: 'vectors.fgb',
              type: FLATGEOBUF_MEDIA_TYPE,
              roles: ['data'],
              title: `Predicted polygons (${epsg === null ? 'output CRS' : `EPSG:${epsg}`})`,
            };
          }
          if (inference.cocoKey)
            others.coco = { href: '../coco.json', type: 'application/json', roles: ['metadata'], title: 'COCO export' };
          if (thumbnailKey)
            others.thumbnail = {
              href: 'thumbnail.png',
              type: 'image/png',
              roles: ['thumbnail'],
              title: 'Prediction preview',
            };
          others.model = {
            href: path.posix.relative(`inferences/${request.inferenceId}/${task.taskId}`, model.fileKey),
            type: 'application/octet-stream; framework=onnx',
            roles: ['mlm:model'],
            title: `Model ${model.displayName}`,
            extra: { 'mlm:artifact_type': 'onnx', 'file:checksum': `1220${model.fileSha256}` },
          };
          const regression = taskTypeOf(spec) === 'regression';
          const probabilitiesKey = storageKeys.modelProbabilities(request.inferenceId, task.taskId);
          if (!regression && probabilitiesType(spec) && (await deps.store.exists(probabilitiesKey)))
            others.probabilities = probabilitiesAsset(spec);
          const item = taskItem({
            taskId: task.taskId,
            inferenceId: request.inferenceId,
            grid: { epsg, transform, width: raster.width, height: raster.height },
            time: itemTime(sources, inference.temporalDomain ?? [], inference.createdAt.toISOString()),
            classes: spec.classes,
            outputNodata: nodata,
            outputDataType: raster.dataType,
            provenance,
            prediction: {
              href: path.posix.basename(task.outputKey!),
              type: COG_MEDIA_TYPE,
              roles: ['data'],
              title: regression ? 'Prediction (regression values)' : 'Prediction (class mask)',
            },
            ...(regression ? { predictionBands: regressionBands(spec, raster) } : {}),
            others,
            writtenAt: (task.updatedAt ?? new Date()).toISOString(),
          });
          await deps.store.putObject(keys.item, Buffer.from(JSON.stringify(item, null, 1)), {
            contentType: 'application/geo+json',
          });
          items.push(item);
          const taskResults: TaskResults = {
            stac_item_key: keys.item,
            vectors,
            thumbnail_key: thumbnailKey,
            input_preview_key: preview ? keys.preview : null,
            input_preview: preview,
            ...(previewLayer ? { input_preview_layer: previewLayer } : {}),
            provenance,
          };
          return taskResults;
        });
        // Shown with the task's step results (GET .../tasks) next to the steps' own.
        await deps.dataSource.query(
          `UPDATE inference_tasks SET outputs = COALESCE(outputs, '{}'::jsonb) || jsonb_build_object('results', $1::jsonb) WHERE task_id = $2`,
          [JSON.stringify(results), task.taskId],
        );
        stepHeartbeat({ tasks_done: index + 1, tasks_total: tasks.length });
      }
      const collection = inferenceCollection({
        inferenceId: request.inferenceId,
        description: `Results of ${model.displayName} (inference ${request.inferenceId}${inference.description ? `: ${inference.description}` : ''})`,
        items,
        classes: spec.classes,
        outputNodata: nodata,
        assets: inference.cocoKey
          ? { coco: { href: './coco.json', type: 'application/json', roles: ['metadata'], title: 'COCO export' } }
          : {},
      });
      const collectionKey = storageKeys.stacCollection(request.inferenceId);
      await deps.store.putObject(collectionKey, Buffer.from(JSON.stringify(collection, null, 1)), {
        contentType: 'application/json',
      });
      return { collectionKey, items: items.length, features };
    },
  };
}
