/**
 * Body of a model thread (started by model-thread.ts). Owns its onnxruntime sessions and computes the
 * segment requests given to it: preprocessing, session.run, argmax and output nodata. Every run takes up
 * to batchSize tiles across the pending requests of the oldest request's model, oldest request first, so
 * several small rasters share one run; each tile is computed exactly as if its raster ran alone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { providerName } from '../../../workflows/contract/execution-providers';
import type {
  FromModelThread,
  SegmentJob,
  SerializedError,
  TensorInfo,
  ToModelThread,
  WindowEdges,
} from './model-thread';
import {
  DEFAULT_TILE_BLENDING,
  maskNodata,
  probabilitiesType,
  regressionNodata,
  taskTypeOf,
} from '../../../workflows/contract/model-spec';
import { ContinuousAccumulator } from './continuous';
import {
  BlendAccumulator,
  bandPlans,
  fillTile,
  ModelShapeError,
  nodataMask,
  planTiles,
  writeCore,
  type BandPlan,
  type TileWindow,
} from './segmentation';

if (!parentPort) throw new Error('model-thread-worker runs inside a worker thread (see model-thread.ts)');
const port = parentPort;

function post(message: FromModelThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function serialize(error: unknown): SerializedError {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: 'Error', message: String(error) };
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

interface LoadedSession {
  session: ort.InferenceSession;
  inputName: string;
  outputName: string;
  /** The execution provider the session was created with (the first of the list that loaded). */
  provider: string;
  /** Why the providers before it were passed over (their load errors), when any were. */
  fallback?: string;
}

/** Providers this thread could not load, with the reason: not tried again for later sessions. */
const unusableProviders = new Map<string, string>();

function shortOrtMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // onnxruntime appends the whole native message; its first line says what failed.
  return message.split('\n')[0]!.trim();
}

/**
 * Why CUDA cannot load without asking onnxruntime, when its provider library is not next to the binding (the npm
 * package does not ship it): asking would only print onnxruntime's own red error line on stderr on every
 * machine without `provision.sh gpu`, in the middle of the worker's JSON logs.
 */
function missingCudaProviderLibrary(): string | undefined {
  let binding: string;
  try {
    binding = require.resolve(
      `onnxruntime-node/bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`,
    );
  } catch {
    return `Failed to load the CUDA provider: onnxruntime-node has no binding for ${process.platform}-${process.arch}`;
  }
  const library = path.join(path.dirname(binding), 'libonnxruntime_providers_cuda.so');
  if (fs.existsSync(library)) return undefined;
  return `Failed to load the CUDA provider: ${path.basename(library)} is not installed next to the onnxruntime binding (bash scripts/provision.sh gpu installs it)`;
}

/**
 * Creates a session with the first provider of `options.executionProviders` that loads: a CUDA provider whose
 * library, driver or GPU is missing throws at creation, and the session is then created with the rest of the
 * list (the CPU). The CPU's own error (a broken model) is the one thrown when nothing loads.
 */
async function createSession(
  modelPath: string,
  options: ort.InferenceSession.SessionOptions,
): Promise<{ session: ort.InferenceSession; provider: string; fallback?: string }> {
  const listed = (options.executionProviders ?? ['cpu']).map((entry) => ({ entry, name: providerName(entry) }));
  const skipped: string[] = [];
  const candidates = listed.filter(({ name }) => {
    const reason = unusableProviders.get(name) ?? (name === 'cuda' ? missingCudaProviderLibrary() : undefined);
    if (reason) skipped.push(`${name}: ${reason}`);
    return !reason;
  });
  if (candidates.length === 0) throw new Error(`no execution provider could be loaded (${skipped.join('; ')})`);
  // A provider is only remembered as unusable once a later one loaded the same model: when none does, the
  // model itself is at fault, not the provider.
  const failed: Array<[string, string]> = [];
  for (let i = 0; i < candidates.length; i++) {
    const rest = candidates.slice(i);
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        ...options,
        executionProviders: rest.map(({ entry }) => entry),
      });
      for (const [name, reason] of failed) unusableProviders.set(name, reason);
      return { session, provider: rest[0]!.name, ...(skipped.length > 0 ? { fallback: skipped.join('; ') } : {}) };
    } catch (error) {
      if (i === candidates.length - 1 || rest[0]!.name === 'cpu') throw error;
      const reason = shortOrtMessage(error);
      failed.push([rest[0]!.name, reason]);
      skipped.push(`${rest[0]!.name}: ${reason}`);
    }
  }
  throw new Error('unreachable');
}

const SESSION_CACHE_LIMIT = 4;
/** Insertion order is recency: the first entry is the least recently used. */
const sessions = new Map<string, Promise<LoadedSession>>();

/** A changed model file (mtime, size) or other options get a new session. */
function sessionKey(modelPath: string, options: ort.InferenceSession.SessionOptions): string {
  const stat = fs.statSync(modelPath);
  return JSON.stringify([fs.realpathSync(modelPath), stat.mtimeMs, stat.size, options]);
}

function loadSession(
  key: string,
  modelPath: string,
  options: ort.InferenceSession.SessionOptions,
): Promise<LoadedSession> {
  const cached = sessions.get(key);
  if (cached) {
    sessions.delete(key);
    sessions.set(key, cached);
    return cached;
  }
  const entry = createSession(modelPath, options).then(({ session, provider, fallback }) => ({
    session,
    inputName: session.inputNames[0]!,
    outputName: session.outputNames[0]!,
    provider,
    ...(fallback ? { fallback } : {}),
  }));
  sessions.set(key, entry);
  entry.catch(() => {
    if (sessions.get(key) === entry) sessions.delete(key);
  });
  // Past the limit the least recently used are forgotten, not released: the garbage collector frees the
  // native session once no run holds it.
  while (sessions.size > SESSION_CACHE_LIMIT) sessions.delete(sessions.keys().next().value!);
  return entry;
}

function tensorInfo(value: ort.InferenceSession.ValueMetadata): TensorInfo {
  return value.isTensor
    ? { name: value.name, isTensor: true, type: value.type, shape: [...value.shape] }
    : { name: value.name, isTensor: false, type: 'non-tensor', shape: [] };
}

async function describe(id: number, modelPath: string, options: ort.InferenceSession.SessionOptions): Promise<void> {
  try {
    const { session, provider, fallback } = await loadSession(sessionKey(modelPath, options), modelPath, options);
    post({
      type: 'described',
      id,
      signature: {
        inputs: session.inputMetadata.map(tensorInfo),
        outputs: session.outputMetadata.map(tensorInfo),
        executionProvider: provider,
        ...(fallback ? { providerFallback: fallback } : {}),
      },
    });
  } catch (error) {
    post({ type: 'failed', id, error: serialize(error) });
  }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

interface Prepared {
  plans: BandPlan[];
  nodata: Uint8Array | null;
  mask: Uint8Array;
  classValues: Uint8Array;
  /** Weighted sums of overlapping tiles (tile_blending linear / cosine); absent for `center`. */
  blend?: BlendAccumulator;
  /** The edge rows' raw class sums of a scene window (job.edgeRows). */
  edges?: WindowEdges;
  /** Regression values, or the class probabilities of a segmentation model that writes them. */
  continuous?: ContinuousAccumulator;
  /** Regression: no class mask, only `continuous`. */
  regression: boolean;
}

interface Request {
  id: number;
  job: SegmentJob;
  sessionKey: string;
  /** Requests with the same key can share a run: same session, tile shape, classes and batch size. */
  batchKey: string;
  tiles: TileWindow[];
  /** Next tile to put into a run. */
  next: number;
  /** Tiles whose result is in the mask. */
  done: number;
  prepared?: Prepared;
  /** Execution provider of the session its tiles ran on. */
  provider?: string;
}

/** Pending requests, oldest first. */
const queue: Request[] = [];

function remove(request: Request): boolean {
  const index = queue.indexOf(request);
  if (index < 0) return false;
  queue.splice(index, 1);
  return true;
}

function fail(request: Request, error: unknown): void {
  if (remove(request)) post({ type: 'failed', id: request.id, error: serialize(error) });
}

function accept(id: number, job: SegmentJob): void {
  try {
    const key = sessionKey(job.modelPath, job.sessionOptions);
    const { spec } = job;
    queue.push({
      id,
      job,
      sessionKey: key,
      batchKey: JSON.stringify([
        key,
        job.batchSize,
        job.fixedBatch,
        spec.tile_size,
        spec.bands.length,
        job.outputChannels,
        job.inputName ?? null,
        job.tileShape ?? null,
        job.dates ? [job.dates.name, job.dates.shape] : null,
      ]),
      tiles: planTiles(job.width, job.height, spec.tile_size, spec.tile_overlap),
      next: 0,
      done: 0,
    });
    schedule();
  } catch (error) {
    post({ type: 'failed', id, error: serialize(error) });
  }
}

/** Band plans, no-data pixels and the output mask, made when the request's first tile is run. */
function prepare(request: Request): Prepared | undefined {
  if (request.prepared) return request.prepared;
  try {
    const { job } = request;
    const plans = bandPlans(job.spec, job.bands, job.bandCount);
    const pixels = job.width * job.height;
    const nodata = nodataMask(
      plans.map((plan) => plan.source),
      job.nodata,
      pixels,
    );
    const regression = taskTypeOf(job.spec) === 'regression';
    const mask = new Uint8Array(regression ? 0 : pixels);
    const classValues = Uint8Array.from(job.spec.classes.map((c) => c.value));
    const blending = job.spec.tile_blending ?? DEFAULT_TILE_BLENDING;
    const continuous =
      regression || probabilitiesType(job.spec)
        ? new ContinuousAccumulator(
            job.width,
            job.height,
            job.spec.tile_size,
            job.spec.tile_overlap,
            job.outputChannels,
            blending,
            regression ? 'identity' : 'softmax',
          )
        : undefined;
    const blend =
      blending === 'center' || regression
        ? undefined
        : new BlendAccumulator(
            mask,
            job.width,
            job.height,
            job.spec.tile_size,
            job.spec.tile_overlap,
            job.spec.classes.length,
            classValues,
            blending,
          );
    const edges = blend && job.edgeRows ? blend.keepEdges(job.edgeRows.top, job.edgeRows.bottom) : undefined;
    request.prepared = {
      plans,
      nodata,
      mask,
      classValues,
      regression,
      ...(continuous ? { continuous } : {}),
      ...(blend ? { blend } : {}),
      ...(edges ? { edges } : {}),
    };
    return request.prepared;
  } catch (error) {
    fail(request, error);
    return undefined;
  }
}

function finish(request: Request, prepared: Prepared): void {
  const { mask, nodata, edges } = prepared;
  prepared.blend?.finish();
  if (edges && request.job.edgeRows) {
    const { width, height } = request.job;
    const { top, bottom } = request.job.edgeRows;
    edges.topNodata = nodata ? nodata.slice(0, top * width) : null;
    edges.bottomNodata = nodata ? nodata.slice((height - bottom) * width) : null;
  }
  if (nodata) {
    const outputNodata = maskNodata(request.job.spec);
    for (let i = 0; i < mask.length; i++) if (nodata[i] === 1) mask[i] = outputNodata;
  }
  const values = prepared.continuous ? finishContinuous(request.job, prepared.continuous, nodata) : undefined;
  remove(request);
  post(
    {
      type: 'segmented',
      id: request.id,
      mask,
      provider: request.provider ?? 'cpu',
      ...(values ? { values, channels: prepared.continuous!.channels } : {}),
      ...(edges ? { edges } : {}),
    },
    [
      mask.buffer as ArrayBuffer,
      ...(values ? [values.buffer as ArrayBuffer] : []),
      ...(edges ? [edges.top.buffer as ArrayBuffer, edges.bottom.buffer as ArrayBuffer] : []),
    ],
  );
}

/** Regression: output * output_scale + output_offset, nodata pixels set to output_nodata. Probabilities: NaN there. */
function finishContinuous(job: SegmentJob, continuous: ContinuousAccumulator, nodata: Uint8Array | null): Float32Array {
  continuous.finish();
  const { values, channels } = continuous;
  const pixels = job.width * job.height;
  const regression = taskTypeOf(job.spec) === 'regression';
  const scale = regression ? (job.spec.output_scale ?? 1) : 1;
  const offset = regression ? (job.spec.output_offset ?? 0) : 0;
  const fill = regression ? regressionNodata(job.spec) : Number.NaN;
  for (let c = 0; c < channels; c++) {
    const base = c * pixels;
    for (let i = 0; i < pixels; i++) {
      if (nodata !== null && nodata[i] === 1) values[base + i] = fill;
      else if (scale !== 1 || offset !== 0) values[base + i] = values[base + i]! * scale + offset;
    }
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

/** Model input reused across runs (a run finishes before the next is filled). */
let inputBuffer = new Float32Array(0);

function modelInput(length: number): Float32Array {
  if (inputBuffer.length < length) inputBuffer = new Float32Array(length);
  return inputBuffer.length === length ? inputBuffer : inputBuffer.subarray(0, length);
}

/** A time series model's date input for a run: each tile gets its own stack's dates (padding repeats the first). */
function frameDatesTensor(
  dates: NonNullable<SegmentJob['dates']>,
  taken: Array<{ request: Request }>,
  runSize: number,
): ort.Tensor {
  const per = dates.values.length;
  const data = new Float32Array(runSize * per);
  for (let i = 0; i < runSize; i++) data.set((taken[i] ?? taken[0]!).request.job.dates!.values, i * per);
  return new ort.Tensor('float32', data, [runSize, ...dates.shape]);
}

/** One session.run with up to batchSize tiles from the pending requests of the oldest request's model. */
async function runOnce(): Promise<void> {
  const head = queue[0]!;
  let loaded: LoadedSession;
  try {
    loaded = await loadSession(head.sessionKey, head.job.modelPath, head.job.sessionOptions);
  } catch (error) {
    for (const request of queue.filter((r) => r.sessionKey === head.sessionKey)) fail(request, error);
    return;
  }
  const { batchKey } = head;
  const { batchSize, fixedBatch, spec } = head.job;
  const taken: Array<{ request: Request; prepared: Prepared; tile: TileWindow }> = [];
  for (const request of [...queue]) {
    if (taken.length === batchSize) break;
    if (request.batchKey !== batchKey || request.next === request.tiles.length) continue;
    const prepared = prepare(request);
    if (!prepared) continue;
    while (taken.length < batchSize && request.next < request.tiles.length)
      taken.push({ request, prepared, tile: request.tiles[request.next++]! });
  }
  if (taken.length === 0) return;

  const tileSize = spec.tile_size;
  const channels = spec.bands.length;
  const classes = head.job.outputChannels;
  const plane = tileSize * tileSize;
  const perTile = channels * plane;
  const runSize = fixedBatch ? batchSize : taken.length;
  const input = modelInput(runSize * perTile);
  taken.forEach(({ request, prepared, tile }, i) =>
    fillTile(input, i * perTile, tile, tileSize, request.job.width, prepared.plans, prepared.nodata),
  );
  if (runSize > taken.length) input.fill(0, taken.length * perTile, runSize * perTile);
  const involved = [...new Set(taken.map(({ request }) => request))];

  let results: ort.InferenceSession.OnnxValueMapType;
  try {
    const feeds: Record<string, ort.Tensor> = {
      [head.job.inputName ?? loaded.inputName]: new ort.Tensor('float32', input, [
        runSize,
        ...(head.job.tileShape ?? [channels, tileSize, tileSize]),
      ]),
    };
    if (head.job.dates) feeds[head.job.dates.name] = frameDatesTensor(head.job.dates, taken, runSize);
    results = await loaded.session.run(feeds);
  } catch (error) {
    for (const request of involved) fail(request, error);
    return;
  }
  try {
    const output = results[loaded.outputName]!;
    const dims = output.dims;
    if (
      dims.length !== 4 ||
      dims[0] !== runSize ||
      dims[1] !== classes ||
      dims[2] !== tileSize ||
      dims[3] !== tileSize
    ) {
      throw new ModelShapeError(
        `the model returned shape [${dims.join(', ')}]; expected [${runSize}, ${classes}, ${tileSize}, ${tileSize}]`,
      );
    }
    const logits = output.data as Float32Array;
    taken.forEach(({ prepared, tile }, i) => prepared.continuous?.add(logits, i * classes * plane, tile));
    taken.forEach(({ request, prepared, tile }, i) =>
      prepared.regression
        ? undefined
        : prepared.blend
          ? prepared.blend.add(logits, i * classes * plane, tile)
          : writeCore(
              prepared.mask,
              logits,
              i * classes * plane,
              tile,
              tileSize,
              request.job.width,
              classes,
              prepared.classValues,
            ),
    );
  } catch (error) {
    for (const request of involved) fail(request, error);
    return;
  } finally {
    for (const value of Object.values(results)) value.dispose?.();
  }
  post({ type: 'ran', tiles: taken.length, requests: involved.length });
  for (const request of involved) {
    if (!queue.includes(request)) continue; // cancelled while the run was in flight
    request.done += taken.filter((entry) => entry.request === request).length;
    request.provider = loaded.provider;
    post({ type: 'progress', id: request.id, done: request.done, total: request.tiles.length });
    if (request.done === request.tiles.length) finish(request, request.prepared!);
  }
}

let draining = false;

function schedule(): void {
  if (draining) return;
  draining = true;
  // Start on a later turn, so requests posted together are all read first and can share the first run.
  setImmediate(() => void drain());
}

async function drain(): Promise<void> {
  try {
    while (queue.length > 0) {
      await runOnce();
      // A run holds this thread's event loop: read cancellations and new requests before the next one.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    draining = false;
  }
}

port.on('message', (message: ToModelThread) => {
  switch (message.type) {
    case 'describe':
      void describe(message.id, message.modelPath, message.sessionOptions);
      break;
    case 'segment':
      for (const { id, job } of message.requests) accept(id, job);
      break;
    case 'cancel': {
      const request = queue.find((r) => r.id === message.id);
      if (request) remove(request);
      break;
    }
    case 'crash':
      setImmediate(() => {
        throw new Error(message.reason);
      });
      break;
  }
});
