import * as fs from 'node:fs';
import { currentActivity, stepHeartbeat } from './runtime/activity-context';
import { stepProgress, type StepProgressReporter } from './runtime/step-progress';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure } from '@temporalio/activity';
import type { SeriesFrameInput, TaskInput } from '../workflows/contract/types';
import type { ActivityDeps } from './deps';
import { InferenceEntity, ModelEntity } from '../src/platform/database/entities';
import { invalidInput, modelConfigurationError, StepFailure } from '../workflows/contract/errors';
import { inputAddressPolicy, parseHttpUrl, redactUrl, UrlPolicyError } from '../src/geo/net/address-policy';
import { guardedGet, type GuardedResponse } from '../src/geo/net/guarded-fetch';
import { fetchStacChip, runChipScript, type StoredInputSummary } from '../src/geo/stac/stac-fetch';
import { fetchStacSeries } from '../src/geo/stac/stac-series';
import { InvalidGeoTiffError } from '../src/geo/raster/invalid-geotiff';
import { inspectGeoTiff, type GeoTiffSummary } from '../src/geo/raster/inspect';
import { inspectStoredGeoTiff } from '../src/geo/raster/stored-geotiff';
import { ObjectNotFoundError } from '../src/platform/storage/object-store';
import { StepLog, withStepLog } from './runtime/step-log';
import { storageKeys } from '../src/platform/storage/keys';
import { withTempDir } from '../src/platform/temp-dir';
import { runGroupItems, type GroupStepResult } from './runtime/step-group';

export interface FetchTaskInputRequest {
  inferenceId: string;
  taskId: string;
  workflowId: string;
  input: TaskInput;
}

/** `terrakit-data-fetch` for several tasks of one inference in one activity (see lib/step-group.ts). */
export interface FetchTaskInputsRequest {
  inferenceId: string;
  workflowId: string;
  items: Array<{ taskId: string; input: TaskInput }>;
}

export interface FetchTaskInputResult extends StoredInputSummary {
  /** STAC chips: the scene picked and the search (item_id, collection, cloud_cover, pages, ...). */
  [detail: string]: unknown;
}

/** A download aborted by the attempt's cancellation (a stop) is the cancellation, not a failed fetch. */
function throwIfCancelled(): void {
  const signal = currentActivity()?.cancellationSignal;
  if (signal?.aborted) throw (signal.reason as Error | undefined) ?? new Error('cancelled');
}

/**
 * Downloads a URL to a local file with a size cap and a timeout; HTTP 4xx is the user's input, not transient.
 * Every connection, redirects included, is checked against the input address policy when it is made.
 * Messages name the URL without credentials and never quote what the server answered.
 */
async function downloadUrl(
  url: string,
  target: string,
  deps: ActivityDeps,
  log: StepLog,
  progress: StepProgressReporter,
): Promise<number> {
  const safeUrl = redactUrl(url);
  let parsed: URL;
  try {
    parsed = parseHttpUrl(url);
  } catch (error) {
    throw invalidInput(`${safeUrl} ${(error as Error).message}`);
  }
  log.info(`GET ${safeUrl}`);
  let response: GuardedResponse;
  try {
    response = await guardedGet(parsed, {
      policy: inputAddressPolicy(deps.config),
      timeoutMs: deps.config.FETCH_TIMEOUT_MS,
      signal: currentActivity()?.cancellationSignal,
    });
  } catch (error) {
    throwIfCancelled();
    if (error instanceof UrlPolicyError) throw invalidInput(`download of ${safeUrl} refused: ${error.message}`);
    // Network errors and time-outs are transient: Temporal retries the step with backoff.
    throw ApplicationFailure.create({
      message: `download of ${safeUrl} failed: ${(error as Error).message}`,
      type: 'TransientFetchError',
    });
  }
  const status = `HTTP ${response.status}`;
  if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
    response.body.destroy();
    throw invalidInput(`download of ${safeUrl} failed: ${status}`);
  }
  if (response.status < 200 || response.status >= 300) {
    response.body.destroy();
    throw ApplicationFailure.create({
      message: `download of ${safeUrl} failed: ${status}`,
      type: 'TransientFetchError',
    });
  }
  if (response.redirects > 0) log.info(`redirected ${response.redirects} time(s) to ${redactUrl(response.url)}`);
  const declared = Number(response.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > deps.config.FETCH_MAX_BYTES) {
    response.body.destroy();
    throw invalidInput(
      `${safeUrl} is ${declared} bytes, over the ${deps.config.FETCH_MAX_BYTES}-byte limit (FETCH_MAX_BYTES)`,
    );
  }
  const total = Number.isFinite(declared) ? declared : null;
  let received = 0;
  let lastBeat = Date.now();
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > deps.config.FETCH_MAX_BYTES) {
        callback(invalidInput(`${safeUrl} is over the ${deps.config.FETCH_MAX_BYTES}-byte limit (FETCH_MAX_BYTES)`));
        return;
      }
      if (Date.now() - lastBeat >= DOWNLOAD_PROGRESS_MS) {
        lastBeat = Date.now();
        progress.report({ done: received, total, unit: 'bytes' }, { bytes: received });
      }
      callback(null, chunk);
    },
  });
  try {
    await pipeline(response.body, meter, fs.createWriteStream(target));
  } catch (error) {
    throwIfCancelled();
    if (error instanceof StepFailure || error instanceof ApplicationFailure) throw error;
    throw ApplicationFailure.create({
      message: `download of ${safeUrl} failed: ${(error as Error).message}`,
      type: 'TransientFetchError',
    });
  }
  progress.report({ done: received, total: received, unit: 'bytes' }, { bytes: received });
  await progress.flush();
  log.info(`downloaded ${received} bytes`);
  return received;
}

/**
 * A time series given as one GeoTIFF per frame (oldest first): each is downloaded or read from storage and checked,
 * then all are stacked time-major into the task's input; frames on different grids fail naming both files.
 */
async function fetchSeries(
  frames: SeriesFrameInput[],
  request: FetchTaskInputRequest,
  dir: string,
  deps: ActivityDeps,
  log: StepLog,
  notReadable: (source: string) => (error: unknown) => never,
): Promise<FetchTaskInputResult> {
  const files: string[] = [];
  const names: string[] = [];
  const progress = stepProgress(deps, 'terrakit-data-fetch', request.taskId);
  for (const [index, frame] of frames.entries()) {
    const file = path.join(dir, `frame-${index}.tif`);
    const name = frame.kind === 'url' ? redactUrl(frame.url) : frame.file_name;
    if (frame.kind === 'url') await downloadUrl(frame.url, file, deps, log, progress);
    else
      await deps.store.downloadToFile(frame.key, file).catch((error: unknown) => {
        if (error instanceof ObjectNotFoundError) throw invalidInput(`uploaded file ${name} is missing from storage`);
        throw error;
      });
    const summary = await inspectGeoTiff(file, { quoteContent: false }).catch(
      notReadable(`frame ${index + 1} (${name})`),
    );
    log.info(
      `frame ${index + 1} ${name}: ${summary.width}x${summary.height}, ${summary.bands} band(s) of ${summary.dtype}`,
    );
    files.push(file);
    names.push(name);
  }
  const out = path.join(dir, 'input.tif');
  const stacked = await runChipScript<{ width: number; height: number; bands: number; epsg: number | null }>(
    deps.config,
    { command: 'stack', sources: files, names, out },
  );
  const inputKey = storageKeys.taskInput(request.inferenceId, request.taskId);
  await deps.store.putFile(inputKey, out, { contentType: 'image/tiff' });
  log.info(`stacked ${frames.length} frames time-major: ${stacked.bands} band(s)`);
  return {
    inputKey,
    bytes: fs.statSync(out).size,
    width: stacked.width,
    height: stacked.height,
    bands: stacked.bands,
    epsg: stacked.epsg,
    frames: names.map((name, index) => ({ frame: index, source: name })),
  };
}

/** How often a download reports its byte count (heartbeat, and the projection through its throttle). */
const DOWNLOAD_PROGRESS_MS = 1000;

/** Inputs fetched at once by a grouped data-fetch activity: downloads and STAC reads are I/O bound. */
const FETCH_GROUP_CONCURRENCY = 4;

export function createDataFetchActivities(deps: ActivityDeps) {
  const activities = {
    /** `terrakit-data-fetch` of several tasks; each task gets its own outcome and step log. */
    async fetchTaskInputs(request: FetchTaskInputsRequest): Promise<GroupStepResult<FetchTaskInputResult>> {
      return runGroupItems(request.items, FETCH_GROUP_CONCURRENCY, (item) =>
        activities.fetchTaskInput({
          inferenceId: request.inferenceId,
          workflowId: request.workflowId,
          taskId: item.taskId,
          input: item.input,
        }),
      );
    },

    /** `terrakit-data-fetch`: brings the task's input into object storage and checks it is a readable GeoTIFF. */
    async fetchTaskInput(request: FetchTaskInputRequest): Promise<FetchTaskInputResult> {
      const log = new StepLog(deps.dataSource, request.taskId, 'terrakit-data-fetch');
      const input = request.input;
      if (input.kind === 'stac') {
        return withStepLog(log, () =>
          withTempDir('fetch', async (dir) => {
            // The chip is built for the model: its bands, their order and its resolution.
            const inference = await deps.dataSource
              .getRepository(InferenceEntity)
              .findOneBy({ id: request.inferenceId });
            const model = inference
              ? await deps.dataSource.getRepository(ModelEntity).findOneBy({ id: inference.modelId })
              : null;
            if (!model) throw modelConfigurationError(`the model of inference ${request.inferenceId} no longer exists`);
            const signal = currentActivity()?.cancellationSignal;
            // A time series model's task made without the request's overrides builds the model's own stack.
            const modelTemporal = model.modelInputDataSpec.temporal;
            const temporal =
              input.temporal ??
              (modelTemporal && {
                num_steps: modelTemporal.num_steps,
                temporal_step: modelTemporal.temporal_step,
                temporal_tolerance: modelTemporal.temporal_tolerance,
              });
            if (temporal && modelTemporal) {
              return {
                ...(await fetchStacSeries(
                  { ...input, temporal },
                  request,
                  deps,
                  model.modelInputDataSpec,
                  dir,
                  log,
                  stepHeartbeat,
                  signal,
                )),
              };
            }
            return {
              ...(await fetchStacChip(input, request, deps, model.modelInputDataSpec, dir, log, stepHeartbeat, signal)),
            };
          }),
        );
      }
      const notReadable = (source: string) => (error: unknown) => {
        if (error instanceof InvalidGeoTiffError)
          throw invalidInput(`${source} is not a readable GeoTIFF: ${error.message}`, error);
        throw error;
      };
      const logSummary = (summary: GeoTiffSummary) =>
        log.info(
          `GeoTIFF ${summary.width}x${summary.height}, ${summary.bands} band(s) of ${summary.dtype}, EPSG:${summary.epsg ?? 'unknown'}`,
        );
      if (input.kind === 'object') {
        // Uploaded files are already in storage: their headers are read in place, nothing is copied.
        return withStepLog(log, async () => {
          const summary = await inspectStoredGeoTiff(deps.store, input.key).catch((error: unknown) => {
            if (error instanceof ObjectNotFoundError)
              throw invalidInput(`uploaded file ${input.file_name} is missing from storage`);
            return notReadable(input.file_name)(error);
          });
          logSummary(summary);
          return {
            inputKey: input.key,
            bytes: summary.bytes,
            width: summary.width,
            height: summary.height,
            bands: summary.bands,
            epsg: summary.epsg,
          };
        });
      }
      if (input.kind === 'series') {
        return withStepLog(log, () =>
          withTempDir('fetch', (dir) => fetchSeries(input.frames, request, dir, deps, log, notReadable)),
        );
      }
      return withStepLog(log, () =>
        withTempDir('fetch', async (dir) => {
          const localFile = path.join(dir, 'input.tif');
          const progress = stepProgress(deps, 'terrakit-data-fetch', request.taskId);
          const bytes = await downloadUrl(input.url, localFile, deps, log, progress);
          const inputKey = storageKeys.taskInput(request.inferenceId, request.taskId);
          const summary = await inspectGeoTiff(localFile, { quoteContent: false }).catch(
            notReadable('the downloaded file'),
          );
          logSummary(summary);
          await deps.store.putFile(inputKey, localFile, { contentType: 'image/tiff' });
          return {
            inputKey,
            bytes,
            width: summary.width,
            height: summary.height,
            bands: summary.bands,
            epsg: summary.epsg,
          };
        }),
      );
    },
  };
  return activities;
}
