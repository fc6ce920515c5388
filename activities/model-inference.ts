import * as fs from 'node:fs';
import * as path from 'node:path';
import { currentActivity, stepHeartbeat } from './runtime/activity-context';
import { stepProgress } from './runtime/step-progress';
import { InferenceEntity, ModelEntity } from '../src/platform/database/entities';
import type { ActivityDeps } from './deps';
import { invalidInput, modelConfigurationError } from '../workflows/contract/errors';
import { ensureLocalModelFile } from '../src/geo/model/model-cache';
import {
  applyPostProcessing,
  type PostProcessingKey,
  type PostProcessingSources,
} from '../src/geo/post-processing/post-processing';
import { inputAddressPolicy } from '../src/geo/net/address-policy';
import { runChipScript, type ChipMetadata } from '../src/geo/stac/stac-fetch';
import {
  maskNodata,
  probabilitiesType,
  regressionNodata,
  taskTypeOf,
  type ModelInputDataSpec,
  type ModelTaskType,
} from '../workflows/contract/model-spec';
import { continuousOutputs, type ContinuousOutputStats } from './continuous-outputs';
import { cloudClassValues, cloudSpecForInput } from '../src/geo/model/cloud-model';
import { findModelByIdOrName } from '../src/platform/database/model-lookup';
import { encodeMaskCog } from '../src/geo/raster/mask-cog';
import { decodeGeoTiff, readGeoTiff } from '../src/geo/raster/decode';
import { InvalidGeoTiffError } from '../src/geo/raster/invalid-geotiff';
import { ownArrayBuffer } from '../src/geo/raster/buffers';
import type { Raster } from '../src/geo/raster/raster';
import { FrameStackError, ModelShapeError, OnnxSegmenter, type SegmenterOptions } from '../src/geo/model/segmentation';
import { checkTaskInput, learnedInputRanges } from './input-guardrails';
import type { ExpectedRange, GuardrailReport } from '../src/geo/model/input-guardrails';
import { recordModelSegmented } from '../src/platform/metrics/metrics';
import { StepLog, withStepLog } from './runtime/step-log';
import { runGroupItems, type GroupStepResult } from './runtime/step-group';
import { storageKeys } from '../src/platform/storage/keys';
import { withTempDir } from '../src/platform/temp-dir';
import { openWindowedGeoTiff, storedByteSource, type WindowedGeoTiff } from '../src/geo/raster/windowed-geotiff';
import { runSceneSegmentation } from './scene-inference';

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
  /** The onnxruntime execution provider that ran the model (`cuda`, or `cpu`, also when CUDA could not be loaded). */
  execution_provider: string;
  class_pixel_counts: Record<string, number>;
  /** `regression`: outputKey is a float32 COG of the model's channels (class_pixel_counts is empty). */
  task_type?: ModelTaskType;
  /** Regression: min / max / mean of each output channel's valid pixels, and its unit. */
  value_stats?: ContinuousOutputStats[];
  /** Segmentation with `probabilities`: the per-class probabilities COG (uint8 percent or float32). */
  probabilities_key?: string;
  /** The tile size the model ran on (the request's chip_size for a dynamic model). */
  chip_size?: number;
  /** Pixels set to nodata by each enabled post_processing option. */
  post_processing?: Partial<Record<PostProcessingKey, number>>;
  /** The input guardrails' sample statistics and violations (models with `guardrails` or a golden pair). */
  input_guardrails?: GuardrailReport;
  /** Warnings the workflow shows as the step's message (e.g. input guardrail violations). */
  warnings?: string[];
  /** A scene run window by window: its windows, those this attempt computed, and the window it resumed after. */
  windows?: { total: number; computed: number; resumed_from: number };
}

/** Loads what the enabled post_processing options need, on the grid of the model input. */
async function postProcessingSources(
  deps: ActivityDeps,
  request: ModelInferenceRequest,
  options: Partial<Record<PostProcessingKey, boolean>>,
  input: { file: string; raster: Raster; spec: ModelInputDataSpec; log: StepLog; signal?: AbortSignal },
  dir: string,
): Promise<PostProcessingSources> {
  const sources: PostProcessingSources = {};
  const { width, height } = input.raster;
  const metadataKey = storageKeys.taskChipMetadata(request.inferenceId, request.taskId);
  const metadata = (await deps.store.exists(metadataKey))
    ? (JSON.parse((await deps.store.getObject(metadataKey)).toString('utf8')) as ChipMetadata)
    : undefined;
  const hasClassification = Boolean(metadata?.classification && metadata.classification_key);
  if (options.cloud_masking && !hasClassification && deps.config.CLOUD_MASK_MODEL_ID) {
    sources.cloudMask = await runCloudModel(deps, deps.config.CLOUD_MASK_MODEL_ID, input);
  }
  const needsClassification = (['cloud_masking', 'snow_ice_masking'] as const).filter(
    (key) => options[key] && !(key === 'cloud_masking' && sources.cloudMask),
  );
  if (needsClassification.length > 0) {
    if (!metadata?.classification || !metadata.classification_key) {
      throw invalidInput(
        `post_processing.${needsClassification[0]}: the input of this task has no scene classification band (SCL / Fmask) to mask with`,
      );
    }
    const file = path.join(dir, 'classification.tif');
    await deps.store.downloadToFile(metadata.classification_key, file);
    const classification = await readGeoTiff(file);
    if (classification.width !== width || classification.height !== height) {
      throw invalidInput(
        `the classification band is ${classification.width}x${classification.height}, the input ${width}x${height}`,
      );
    }
    // A time series chip has one classification band per frame: the newest frame (the requested date) masks.
    sources.classification = {
      scheme: metadata.classification,
      values: classification.bands[classification.bands.length - 1]!,
    };
  }
  if (options.permanent_water_masking) {
    const reference = deps.config.PERMANENT_WATER_MASK_PATH;
    if (!reference)
      throw modelConfigurationError(
        'post_processing.permanent_water_masking: PERMANENT_WATER_MASK_PATH is not configured on this worker',
      );
    const file = path.join(dir, 'permanent-water.tif');
    // A URL reference is read through the address policy's proxy, like STAC assets.
    const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(reference);
    if (isUrl && !/^https?:\/\//i.test(reference))
      throw modelConfigurationError('PERMANENT_WATER_MASK_PATH must be a file path or an http(s) URL');
    await runChipScript(
      deps.config,
      { command: 'warp', template: input.file, source: reference, out: file },
      {},
      undefined,
      isUrl ? inputAddressPolicy(deps.config) : undefined,
    );
    sources.permanentWater = (await readGeoTiff(file)).bands[0];
  }
  return sources;
}

/** Runs the configured cloud model on the task's input; returns 1 where it finds cloud or cloud shadow. */
async function runCloudModel(
  deps: ActivityDeps,
  idOrName: string,
  input: { raster: Raster; spec: ModelInputDataSpec; log: StepLog; signal?: AbortSignal },
): Promise<Uint8Array> {
  const cloudModel = await findModelByIdOrName(deps.dataSource, idOrName);
  if (!cloudModel)
    throw modelConfigurationError(
      `post_processing.cloud_masking: the cloud model ${idOrName} (CLOUD_MASK_MODEL_ID) is not registered`,
    );
  const { spec, missing } = cloudSpecForInput(cloudModel.modelInputDataSpec, input.spec);
  if (missing.length > 0)
    throw invalidInput(
      `post_processing.cloud_masking: the cloud model ${cloudModel.displayName} needs band(s) ${missing.join(', ')} that this input does not have`,
    );
  const modelPath = await ensureLocalModelFile(
    deps.store,
    path.join(deps.config.DATA_DIR, 'cache', 'models'),
    cloudModel.id,
    cloudModel.fileKey,
    cloudModel.fileSha256,
  );
  const segmenter = await OnnxSegmenter.load(deps.modelThreads, modelPath, spec, segmenterOptions(deps));
  const classes = await segmenter.segment(input.raster, {
    onProgress: (done, total) => stepHeartbeat({ cloud_tiles_done: done, cloud_tiles_total: total }),
    signal: input.signal,
  });
  const cloudy = cloudClassValues(spec);
  input.log.info(`cloud model ${cloudModel.displayName} for cloud_masking (classes ${[...cloudy].join(', ')})`);
  return Uint8Array.from(classes, (value) => (cloudy.has(value) ? 1 : 0));
}

/** `model-inference` for several tasks of one inference in one activity (see lib/step-group.ts). */
export interface ModelInferencesRequest {
  inferenceId: string;
  workflowId: string;
  modelId: string;
  /** `inputValues`: width x height x bands of the input when the data-fetch step reported it (memory planning). */
  items: Array<{ taskId: string; inputKey: string; inputValues?: number }>;
}

/** What every task of an inference shares for its model run: looked up once per activity, not per task. */
interface PreparedModel {
  model: ModelEntity;
  spec: ModelInputDataSpec;
  segmenter: OnnxSegmenter;
  postProcessing: Partial<Record<PostProcessingKey, boolean>>;
  /** Input guardrail ranges learned from the golden input, when the spec declares none. */
  learnedRanges?: ExpectedRange[];
}

/** How models are loaded on this worker (ONNX_* settings). */
function segmenterOptions(deps: ActivityDeps): SegmenterOptions {
  return {
    intraOpThreads: deps.config.ONNX_INTRA_OP_THREADS,
    batchSize: deps.config.INFERENCE_BATCH_SIZE,
    executionProviders: deps.config.ONNX_EXECUTION_PROVIDERS,
  };
}

/** A model whose shape disagrees with its spec fails the same way on every attempt: not retryable. */
function asModelError(error: unknown): never {
  throw error instanceof ModelShapeError ? modelConfigurationError(error.message) : error;
}

async function prepareModel(deps: ActivityDeps, modelId: string, inferenceId: string): Promise<PreparedModel> {
  const model = await deps.dataSource.getRepository(ModelEntity).findOneBy({ id: modelId });
  if (!model) throw modelConfigurationError(`model ${modelId} no longer exists`);
  const inference = await deps.dataSource.getRepository(InferenceEntity).findOneBy({ id: inferenceId });
  // chip_size (checked at creation: a dynamic model, or equal to tile_size) runs the model on tiles of that size.
  const chipSize = inference?.chipSize ?? undefined;
  const spec = chipSize ? { ...model.modelInputDataSpec, tile_size: chipSize } : model.modelInputDataSpec;
  const modelPath = await ensureLocalModelFile(
    deps.store,
    path.join(deps.config.DATA_DIR, 'cache', 'models'),
    model.id,
    model.fileKey,
    model.fileSha256,
  );
  const segmenter = await OnnxSegmenter.load(deps.modelThreads, modelPath, spec, segmenterOptions(deps)).catch(
    asModelError,
  );
  const postProcessing = Object.fromEntries(
    Object.entries(inference?.postProcessing ?? {}).filter(([, enabled]) => enabled),
  ) as Partial<Record<PostProcessingKey, boolean>>;
  const learnedRanges = await learnedInputRanges(deps, model);
  return { model, spec, segmenter, postProcessing, learnedRanges };
}

/** Runs the model over one task's input and stores the mask (a COG) under the task's output key. */
async function inferTask(
  deps: ActivityDeps,
  prepared: PreparedModel,
  request: ModelInferenceRequest,
  log: StepLog,
): Promise<ModelInferenceResult> {
  const { model, spec, segmenter, postProcessing: options } = prepared;
  const postProcess = Object.keys(options).length > 0;
  const scene = await openAsScene(deps, prepared, request, log);
  if (scene) return inferScene(deps, prepared, request, log, scene);
  // The input is read straight into memory (the decoder needs the whole file anyway): no temp file.
  const input = await deps.store.getObject(request.inputKey);
  const raster = await decodeGeoTiff(ownArrayBuffer(input), 'input.tif').catch((error: unknown) => {
    if (error instanceof InvalidGeoTiffError)
      throw invalidInput(`the input is not a readable GeoTIFF: ${error.message}`, error);
    throw error;
  });
  const highestBand = Math.max(...spec.bands.map((band, index) => band.source_index ?? index + 1));
  if (!spec.temporal && highestBand > raster.bandCount) {
    throw invalidInput(
      `model ${model.displayName} needs band ${highestBand} (${spec.bands.map((band) => band.name).join(', ')}) but the input has ${raster.bandCount} band(s)`,
    );
  }
  // A time series chip's frame dates: the model's date input, and the name of a frame the guardrails flag.
  const chipDates = spec.temporal ? await chipFrameDates(deps, request) : undefined;
  // Fails the task (on_violation 'fail') or returns the warnings, before any tile runs.
  const guardrails = checkTaskInput(prepared.model, raster, prepared.learnedRanges, log, chipDates);
  const signal = currentActivity()?.cancellationSignal;
  const frameDates = spec.temporal?.dates_input ? chipDates : undefined;
  if (spec.temporal) {
    const stack = (() => {
      try {
        return segmenter.stackOf(raster, frameDates);
      } catch (error) {
        if (error instanceof FrameStackError) throw invalidInput(`model ${model.displayName}: ${error.message}`);
        throw error;
      }
    })();
    log.info(`time series of ${stack.frames} frame(s), layout ${spec.temporal.layout}`);
  }
  let tiles = 0;
  log.info(
    `model ${model.displayName} (${model.fileSha256.slice(0, 12)}), input ${raster.width}x${raster.height}, execution provider ${segmenter.executionProvider}`,
  );
  if (segmenter.providerFallback)
    log.info(`execution provider fallback to ${segmenter.executionProvider}: ${segmenter.providerFallback}`);
  const progress = stepProgress(deps, 'model-inference', request.taskId);
  const segmentStarted = performance.now();
  const extra: Pick<ModelInferenceResult, 'probabilities_key'> = {};
  const outcome = await segmenter
    .segmentDetailed(raster, {
      // Heartbeats carry progress and let Temporal notice a dead worker within the heartbeat timeout; the
      // projection gets it too (throttled), for GET .../tasks and the step.progress events.
      onProgress: (done, total) => {
        tiles = total;
        progress.report({ done, total, unit: 'tiles' }, { tiles_done: done, tiles_total: total });
      },
      signal,
      // Without post-processing nothing reads the bands again (a cloud model would segment them too).
      handOverBands: !postProcess,
      frameDates,
    })
    .catch(asModelError);
  const { mask, executionProvider } = outcome;
  const regression = taskTypeOf(spec) === 'regression';
  recordModelSegmented(model.displayName, executionProvider, tiles, (performance.now() - segmentStarted) / 1000);
  await progress.flush();
  const outputNodata = maskNodata(spec);
  const postMasked = regression && postProcess ? new Uint8Array(raster.width * raster.height) : undefined;
  let masked: Partial<Record<PostProcessingKey, number>> | undefined;
  if (postProcess) {
    // Post-processing may run GDAL on the input (permanent water): it gets files of its own.
    masked = await withTempDir('post-processing', async (dir) => {
      const inputFile = path.join(dir, 'input.tif');
      await fs.promises.writeFile(inputFile, input);
      const sources = await postProcessingSources(
        deps,
        request,
        options,
        { file: inputFile, raster, spec, log, signal },
        dir,
      );
      // Regression: the options set pixels of a scratch mask to 1; those become the values' nodata.
      return regression
        ? applyPostProcessing(postMasked!, 1, options, sources)
        : applyPostProcessing(mask, outputNodata, options, sources);
    });
    // Regression: the float output's nodata (NaN or the spec's value), not the class mask's.
    const written = regression ? regressionNodata(spec) : outputNodata;
    log.info(`post-processing set pixels to nodata ${written}: ${JSON.stringify(masked)}`);
  }
  if (regression || outcome.values) {
    const continuous = await continuousOutputs(deps, request, spec, raster, input, outcome, postMasked);
    if (regression)
      return {
        outputKey: continuous.outputKey,
        width: raster.width,
        height: raster.height,
        tiles,
        execution_provider: executionProvider,
        class_pixel_counts: {},
        task_type: 'regression',
        value_stats: continuous.stats,
        chip_size: spec.tile_size,
        ...(masked ? { post_processing: masked } : {}),
        // A regression model's input is checked like a segmentation model's: its report and warnings too.
        ...(guardrails ? { input_guardrails: guardrails.report } : {}),
        ...(guardrails && guardrails.warnings.length > 0 ? { warnings: guardrails.warnings } : {}),
      };
    extra.probabilities_key = continuous.outputKey;
  }
  // Published outputs are Cloud-Optimized GeoTIFFs (tiled, DEFLATE, nearest-neighbour overviews), encoded
  // in-process and uploaded from memory: a gdal_translate process per output cost as much CPU as the model.
  const cog = Buffer.concat(
    await encodeMaskCog(mask, raster.width, raster.height, raster.georef, { nodata: outputNodata }),
  );
  const outputKey = storageKeys.modelOutput(request.inferenceId, request.taskId);
  await deps.store.putObject(outputKey, cog, { contentType: 'image/tiff' });
  const counts = classPixelCounts(mask, spec, outputNodata);
  log.info(`${tiles} tiles on ${executionProvider}, class pixel counts ${JSON.stringify(counts)}`);
  return {
    outputKey,
    width: raster.width,
    height: raster.height,
    tiles,
    execution_provider: executionProvider,
    class_pixel_counts: counts,
    ...extra,
    ...(spec.tile_size !== model.modelInputDataSpec.tile_size ? { chip_size: spec.tile_size } : {}),
    ...(masked ? { post_processing: masked } : {}),
    ...(guardrails ? { input_guardrails: guardrails.report } : {}),
    ...(guardrails && guardrails.warnings.length > 0 ? { warnings: guardrails.warnings } : {}),
  };
}

/**
 * The input as a scene to run window by window (scene-inference.ts), when it is at least MODEL_WINDOW_MIN_PIXELS and
 * the model writes a class mask only: regression, probabilities and post-processing run on the whole input in memory.
 */
async function openAsScene(
  deps: ActivityDeps,
  prepared: PreparedModel,
  request: ModelInferenceRequest,
  log: StepLog,
): Promise<WindowedGeoTiff | undefined> {
  const { spec } = prepared;
  const source = await storedByteSource(deps.store, request.inputKey);
  const input = await openWindowedGeoTiff(source, 'input.tif').catch(async (error: unknown) => {
    await source.close?.();
    if (error instanceof InvalidGeoTiffError)
      throw invalidInput(`the input is not a readable GeoTIFF: ${error.message}`, error);
    throw error;
  });
  if (input.width * input.height < deps.config.MODEL_WINDOW_MIN_PIXELS) {
    await input.close();
    return undefined;
  }
  const unsupported =
    taskTypeOf(spec) === 'regression'
      ? 'a regression model'
      : probabilitiesType(spec)
        ? 'probabilities'
        : Object.keys(prepared.postProcessing).length > 0
          ? 'post_processing'
          : undefined;
  if (unsupported) {
    log.info(`${input.width} x ${input.height} input with ${unsupported}: run on the whole input in memory`);
    await input.close();
    return undefined;
  }
  return input;
}

/** inferTask of a scene: window by window, resumable (scene-inference.ts). */
async function inferScene(
  deps: ActivityDeps,
  prepared: PreparedModel,
  request: ModelInferenceRequest,
  log: StepLog,
  input: WindowedGeoTiff,
): Promise<ModelInferenceResult> {
  const { model, spec, segmenter } = prepared;
  try {
    const highestBand = Math.max(...spec.bands.map((band, index) => band.source_index ?? index + 1));
    if (!spec.temporal && highestBand > input.bandCount) {
      throw invalidInput(
        `model ${model.displayName} needs band ${highestBand} (${spec.bands.map((band) => band.name).join(', ')}) but the input has ${input.bandCount} band(s)`,
      );
    }
    const chipDates = spec.temporal ? await chipFrameDates(deps, request) : undefined;
    const frameDates = spec.temporal?.dates_input ? chipDates : undefined;
    log.info(
      `model ${model.displayName} (${model.fileSha256.slice(0, 12)}), input ${input.width}x${input.height}, execution provider ${segmenter.executionProvider}`,
    );
    if (segmenter.providerFallback)
      log.info(`execution provider fallback to ${segmenter.executionProvider}: ${segmenter.providerFallback}`);
    let guardrails: ReturnType<typeof checkTaskInput> | undefined;
    const started = performance.now();
    const outcome = await runSceneSegmentation(
      deps,
      segmenter,
      spec,
      {
        inferenceId: request.inferenceId,
        taskId: request.taskId,
        modelSha256: model.fileSha256,
        inputKey: request.inputKey,
      },
      input,
      log,
      {
        ...(frameDates ? { frameDates } : {}),
        // The input guardrails sample the first window (a whole scene is never in memory at once).
        onFirstInput: (raster) => {
          guardrails = checkTaskInput(prepared.model, raster, prepared.learnedRanges, log, chipDates);
        },
      },
    ).catch((error: unknown) => {
      if (error instanceof FrameStackError) throw invalidInput(`model ${model.displayName}: ${error.message}`);
      return asModelError(error);
    });
    recordModelSegmented(
      model.displayName,
      outcome.executionProvider,
      outcome.tiles,
      (performance.now() - started) / 1000,
    );
    const counts = histogramClassCounts(outcome.histogram, spec, maskNodata(spec));
    log.info(`${outcome.tiles} tiles on ${outcome.executionProvider}, class pixel counts ${JSON.stringify(counts)}`);
    const checked = guardrails;
    return {
      outputKey: outcome.outputKey,
      width: input.width,
      height: input.height,
      tiles: outcome.tiles,
      execution_provider: outcome.executionProvider,
      class_pixel_counts: counts,
      windows: outcome.windows,
      ...(spec.tile_size !== model.modelInputDataSpec.tile_size ? { chip_size: spec.tile_size } : {}),
      ...(checked ? { input_guardrails: checked.report } : {}),
      ...(checked && checked.warnings.length > 0 ? { warnings: checked.warnings } : {}),
    };
  } finally {
    await input.close();
  }
}

/** The acquisition times of a time series chip's frames (oldest first), for models that take dates. */
async function chipFrameDates(deps: ActivityDeps, request: ModelInferenceRequest): Promise<string[] | undefined> {
  const key = storageKeys.taskChipMetadata(request.inferenceId, request.taskId);
  if (!(await deps.store.exists(key))) return undefined;
  const metadata = JSON.parse((await deps.store.getObject(key)).toString('utf8')) as ChipMetadata;
  return metadata.frames?.map((frame) => frame.datetime ?? frame.target_date);
}

/** Pixels per class name (values without a class: 'nodata' for the output nodata, else the value). */
function classPixelCounts(mask: Uint8Array, spec: ModelInputDataSpec, outputNodata: number): Record<string, number> {
  const histogram = new Uint32Array(256);
  for (let i = 0; i < mask.length; i++) histogram[mask[i]!]! += 1;
  return histogramClassCounts(histogram, spec, outputNodata);
}

function histogramClassCounts(
  histogram: Uint32Array,
  spec: ModelInputDataSpec,
  outputNodata: number,
): Record<string, number> {
  const names = new Map(spec.classes.map((entry) => [entry.value, entry.name]));
  const counts: Record<string, number> = {};
  histogram.forEach((count, value) => {
    if (count === 0) return;
    const name = names.get(value) ?? (value === outputNodata ? 'nodata' : String(value));
    counts[name] = (counts[name] ?? 0) + count;
  });
  return counts;
}

/**
 * Tasks of a grouped model activity run a few at a time, so the next input is downloaded and decoded while
 * the model works on the current one (and the model thread can batch their tiles). Large scenes lower it:
 * each running task holds its decoded raster in memory.
 */
function modelGroupConcurrency(deps: ActivityDeps, items: ModelInferencesRequest['items']): number {
  const largest = Math.max(0, ...items.map((item) => item.inputValues ?? 0));
  const byMemory =
    largest > 0
      ? Math.floor((deps.config.MODEL_GROUP_MEMORY_MB * 1024 * 1024) / (largest * BYTES_PER_INPUT_VALUE))
      : Infinity;
  // At least one task per model thread, so a group of small files keeps every thread busy.
  return Math.max(1, Math.min(Math.max(MODEL_GROUP_MAX_CONCURRENCY, deps.modelThreads.maxThreads), byMemory));
}

const MODEL_GROUP_MAX_CONCURRENCY = 4;
/** Decoded sample (up to 8 bytes) plus its share of the float model input and the mask. */
const BYTES_PER_INPUT_VALUE = 12;

export function createModelInferenceActivities(deps: ActivityDeps) {
  return {
    /** `model-inference`: runs the ONNX model tile by tile and stores a mask on the input's grid. */
    async runModelInference(request: ModelInferenceRequest): Promise<ModelInferenceResult> {
      const log = new StepLog(deps.dataSource, request.taskId, 'model-inference');
      return withStepLog(log, async () =>
        inferTask(deps, await prepareModel(deps, request.modelId, request.inferenceId), request, log),
      );
    },

    /** `model-inference` of several tasks: the model and options are prepared once, each task has its own outcome and log. */
    async runModelInferences(request: ModelInferencesRequest): Promise<GroupStepResult<ModelInferenceResult>> {
      const prepared = await prepareModel(deps, request.modelId, request.inferenceId);
      return runGroupItems(request.items, modelGroupConcurrency(deps, request.items), (item) => {
        const task: ModelInferenceRequest = {
          inferenceId: request.inferenceId,
          workflowId: request.workflowId,
          modelId: request.modelId,
          taskId: item.taskId,
          inputKey: item.inputKey,
        };
        const log = new StepLog(deps.dataSource, item.taskId, 'model-inference');
        return withStepLog(log, () => inferTask(deps, prepared, task, log));
      });
    },
  };
}
