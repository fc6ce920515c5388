/**
 * Tiled semantic segmentation of a raster with an ONNX model (onnxruntime-node; CPU, or CUDA when configured and usable).
 *
 * The tiling rule (python/reference_inference.py implements the same rule independently):
 *
 * - Along each axis of length L, with tile size T and overlap V (stride S = T - V), tile origins are
 *   0, S, 2S, ... for as long as the tile ends strictly inside the image (origin + T < L), followed by
 *   one last tile flush with the far edge (origin L - T). When L <= T there is a single tile at 0;
 *   when L < T it is padded to T with zeros (the normalized "no data" value).
 * - Every output pixel takes its class from the tile whose centre is nearest to the pixel's centre,
 *   separately along x and along y; on an exact tie the tile with the smaller origin wins. For
 *   regular tiles this is the window minus V/2 on each interior side. In integers: along an axis,
 *   tile i is authoritative for [e(i-1), e(i)) with e(i) = floor((o_i + o_{i+1} + T + 1) / 2),
 *   e(-1) = 0 and e(last) = L.
 * - Class = argmax over the model's logit channels (first maximum wins), written as
 *   spec.classes[argmax].value.
 * - That nearest-centre rule is `tile_blending: "center"`. With `linear` or `cosine` (the default) every tile
 *   covering a pixel contributes: per class, sum over those tiles (in tile order, row by row) of
 *   w(py) * w(px) * logit, in double precision, and the class is the argmax of the sums (first maximum wins).
 *   Along an axis of a tile (size T, overlap V), at position p with d = min(p, T - 1 - p):
 *   w = 1 where d >= V (or V = 0); else linear (d + 0.5) / V, cosine 0.5 - 0.5 cos(pi (d + 0.5) / V).
 *   Weights are products (py * px) computed first, then multiplied by the logit, then added.
 *
 * Preprocessing from the ModelInputDataSpec: bands picked by source_index (1-based, default position
 * + 1), reflectance = (dn + offset) * scale, then (x - mean) / std, evaluated in double precision in
 * that order and stored as float32. Pixels where every picked band equals the nodata value
 * (spec.nodata, else the GeoTIFF's GDAL_NODATA) are fed as 0 and written as output_nodata
 * (default 255).
 *
 * The compute (preprocessing, session.run, argmax) runs in a pool of model threads (model-thread.ts):
 * onnxruntime-node runs a model synchronously on the calling JS thread, which must stay free for the
 * process's other work.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { ModelInputDataSpec } from '../../../workflows/contract/model-spec';
import type { ExecutionProviderName } from '../../../workflows/contract/execution-providers';
import { taskTypeOf, type TileBlending } from '../../../workflows/contract/model-spec';
import type { ModelThreadPool, PreparedJob, SegmentJob, SegmentOutcome } from './model-thread';
import type { Raster, RasterTypedArray } from '../raster/raster';
import {
  datesInputMismatch,
  encodeFrameDates,
  expandTemporalSpec,
  framesInInput,
  graphFrames,
  temporalShapeMismatch,
  tileInputShape,
} from './temporal-input';

export interface PixelWindow {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A model tile: `x, y` its origin, `w, h` the part inside the image (less than the tile size only for images smaller than a tile). */
export interface TileWindow extends PixelWindow {
  /** The pixels this tile is authoritative for (inside the window). */
  core: PixelWindow;
}

/** Tile origins along one axis (see the rule at the top of this file). */
export function axisOrigins(length: number, tileSize: number, overlap: number): number[] {
  if (length <= tileSize) return [0];
  const stride = tileSize - overlap;
  const origins: number[] = [];
  for (let origin = 0; origin + tileSize < length; origin += stride) origins.push(origin);
  const last = length - tileSize;
  if (origins[origins.length - 1] !== last) origins.push(last);
  return origins;
}

/** [start, end) of the core of each tile along one axis: nearest tile centre, ties to the smaller origin. */
function axisCores(length: number, origins: number[], tileSize: number): Array<[number, number]> {
  return origins.map((origin, i) => {
    const start = i === 0 ? 0 : Math.floor((origins[i - 1]! + origin + tileSize + 1) / 2);
    const end = i === origins.length - 1 ? length : Math.floor((origin + origins[i + 1]! + tileSize + 1) / 2);
    return [start, end];
  });
}

/** Tiles covering a width x height image; their cores partition the image (every pixel exactly once). */
export function planTiles(width: number, height: number, tileSize: number, overlap: number): TileWindow[] {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new Error(`invalid image size ${width} x ${height}`);
  if (!Number.isInteger(tileSize) || tileSize <= 0) throw new Error(`invalid tile size ${tileSize}`);
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= tileSize)
    throw new Error(`tile overlap must be an integer in [0, ${tileSize}), got ${overlap}`);
  const xs = axisOrigins(width, tileSize, overlap);
  const ys = axisOrigins(height, tileSize, overlap);
  const xCores = axisCores(width, xs, tileSize);
  const yCores = axisCores(height, ys, tileSize);
  const tiles: TileWindow[] = [];
  ys.forEach((y, iy) => {
    xs.forEach((x, ix) => {
      const [cx0, cx1] = xCores[ix]!;
      const [cy0, cy1] = yCores[iy]!;
      tiles.push({
        x,
        y,
        w: Math.min(tileSize, width - x),
        h: Math.min(tileSize, height - y),
        core: { x: cx0, y: cy0, w: cx1 - cx0, h: cy1 - cy0 },
      });
    });
  });
  return tiles;
}

// ---------------------------------------------------------------------------------------------
// Preprocessing
// ---------------------------------------------------------------------------------------------

export interface BandPlan {
  source: RasterTypedArray;
  scale: number;
  offset: number;
  mean: number;
  std: number;
}

/** Per-pixel flag (1 = no data): every picked band equals `nodata` (NaN matches NaN). */
export function nodataMask(
  bands: RasterTypedArray[],
  nodata: number | null | undefined,
  pixels: number,
): Uint8Array | null {
  if (nodata === null || nodata === undefined || bands.length === 0) return null;
  const mask = new Uint8Array(pixels).fill(1);
  const isNaN = Number.isNaN(nodata);
  for (const band of bands) {
    for (let i = 0; i < pixels; i++) {
      if (mask[i] === 1) {
        const v = band[i]!;
        if (isNaN ? !Number.isNaN(v) : v !== nodata) mask[i] = 0;
      }
    }
  }
  return mask;
}

/**
 * The input band, scaling and normalization of each model band. `bands` is indexed by 0-based source
 * band (entries the spec does not pick may be missing); `bandCount` is the input's for the error message.
 */
export function bandPlans(
  spec: ModelInputDataSpec,
  bands: ReadonlyArray<RasterTypedArray | null | undefined>,
  bandCount: number,
): BandPlan[] {
  const scale = spec.scaling?.scale ?? 1;
  const offset = spec.scaling?.offset ?? 0;
  return spec.bands.map((band, i) => {
    const index = band.source_index ?? i + 1;
    const source = bands[index - 1];
    if (!source)
      throw new Error(`band "${band.name}" needs band ${index} of the input, which has ${bandCount} band(s)`);
    const mean = spec.normalization?.mean[i] ?? 0;
    const std = spec.normalization?.std[i] ?? 1;
    if (!(std !== 0 && Number.isFinite(std)))
      throw new Error(`normalization std of band "${band.name}" must be a non-zero number`);
    return { source, scale, offset, mean, std };
  });
}

/** Writes one tile, channels-first, into `target` at `base` (T*T*C floats). Padding and no-data pixels are 0. */
export function fillTile(
  target: Float32Array,
  base: number,
  tile: TileWindow,
  tileSize: number,
  width: number,
  plans: BandPlan[],
  nodata: Uint8Array | null,
): void {
  const plane = tileSize * tileSize;
  if (tile.w < tileSize || tile.h < tileSize) target.fill(0, base, base + plane * plans.length);
  plans.forEach(({ source, scale, offset, mean, std }, c) => {
    const channel = base + c * plane;
    for (let r = 0; r < tile.h; r++) {
      const src = (tile.y + r) * width + tile.x;
      const dst = channel + r * tileSize;
      for (let col = 0; col < tile.w; col++) {
        const i = src + col;
        target[dst + col] = nodata !== null && nodata[i] === 1 ? 0 : ((source[i]! + offset) * scale - mean) / std;
      }
    }
  });
}

/**
 * Model-ready input for `tiles` (channels-first, tiles.length * bands * T * T float32), preprocessed
 * exactly as OnnxSegmenter.segment does. For benchmarks and debugging.
 */
export function buildModelInput(raster: Raster, spec: ModelInputDataSpec, tiles: TileWindow[]): Float32Array {
  const plans = bandPlans(spec, raster.bands, raster.bandCount);
  const nodata = nodataMask(
    plans.map((p) => p.source),
    spec.nodata ?? raster.nodata,
    raster.width * raster.height,
  );
  const perTile = plans.length * spec.tile_size * spec.tile_size;
  const out = new Float32Array(perTile * tiles.length);
  tiles.forEach((tile, i) => fillTile(out, i * perTile, tile, spec.tile_size, raster.width, plans, nodata));
  return out;
}

/** Argmax (first maximum wins) over the class channels for the tile's core pixels. */
export function writeCore(
  mask: Uint8Array,
  logits: Float32Array,
  base: number,
  tile: TileWindow,
  tileSize: number,
  width: number,
  classes: number,
  classValues: Uint8Array,
): void {
  const plane = tileSize * tileSize;
  const { core } = tile;
  for (let y = core.y; y < core.y + core.h; y++) {
    const localRow = (y - tile.y) * tileSize - tile.x;
    const outRow = y * width;
    for (let x = core.x; x < core.x + core.w; x++) {
      let index = base + localRow + x;
      let best = logits[index]!;
      let bestClass = 0;
      for (let c = 1; c < classes; c++) {
        index += plane;
        const v = logits[index]!;
        if (v > best) {
          best = v;
          bestClass = c;
        }
      }
      mask[outRow + x] = classValues[bestClass]!;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Overlap blending
// ---------------------------------------------------------------------------------------------

/** Weight of each position along a tile axis (see the rule at the top of this file); strictly positive. */
export function blendWeights(
  tileSize: number,
  overlap: number,
  blending: Exclude<TileBlending, 'center'>,
): Float64Array {
  const weights = new Float64Array(tileSize);
  for (let p = 0; p < tileSize; p++) {
    const d = Math.min(p, tileSize - 1 - p);
    if (overlap === 0 || d >= overlap) weights[p] = 1;
    else if (blending === 'linear') weights[p] = (d + 0.5) / overlap;
    else weights[p] = 0.5 - 0.5 * Math.cos((Math.PI * (d + 0.5)) / overlap);
  }
  return weights;
}

/**
 * Weighted sums of the model outputs over overlapping tiles, kept for one band of rows only: tiles arrive in
 * plan order (row by row), so rows above the current tile row are final and are turned into classes as soon as
 * a new tile row starts. Memory: tile_size rows x width x classes doubles, whatever the image height.
 */
export class BlendAccumulator {
  private readonly sums: Float64Array;
  /** First image row held in `sums`. */
  private bandStart = 0;
  private readonly weights: Float64Array;

  constructor(
    private readonly mask: Uint8Array,
    private readonly width: number,
    private readonly height: number,
    private readonly tileSize: number,
    overlap: number,
    private readonly classes: number,
    private readonly classValues: Uint8Array,
    blending: Exclude<TileBlending, 'center'>,
  ) {
    this.sums = new Float64Array(Math.min(tileSize, height) * width * classes);
    this.weights = blendWeights(tileSize, overlap, blending);
  }

  /** Adds one tile's logits (channels-first, T x T per class, at `base`); tiles must come in plan order. */
  add(logits: Float32Array, base: number, tile: TileWindow): void {
    if (tile.y > this.bandStart) this.settle(tile.y);
    const { sums, weights, width, classes, tileSize } = this;
    const plane = tileSize * tileSize;
    for (let py = 0; py < tile.h; py++) {
      const wy = weights[py]!;
      const rowBase = ((tile.y + py - this.bandStart) * width + tile.x) * classes;
      const logitRow = base + py * tileSize;
      for (let px = 0; px < tile.w; px++) {
        const weight = wy * weights[px]!;
        const at = rowBase + px * classes;
        for (let c = 0; c < classes; c++) sums[at + c] += weight * logits[logitRow + c * plane + px]!;
      }
    }
  }

  /** Classes for every row not yet settled (after the last tile). */
  finish(): void {
    this.settle(this.height);
  }

  /**
   * Also keeps the raw sums of the first `top` and last `bottom` rows (a scene window's edges, which tiles of the
   * neighbouring windows cover too): the caller adds its neighbour's sums and takes the argmax (argmaxSums).
   */
  keepEdges(top: number, bottom: number): { top: Float64Array; bottom: Float64Array } {
    const rowValues = this.width * this.classes;
    this.edges = {
      top: new Float64Array(top * rowValues),
      bottom: new Float64Array(bottom * rowValues),
      bottomStart: this.height - bottom,
    };
    return this.edges;
  }

  private edges?: { top: Float64Array; bottom: Float64Array; bottomStart: number };

  /** Writes the classes of rows [bandStart, until) and moves the band down to start at `until`. */
  private settle(until: number): void {
    const { sums, width, classes, mask, classValues, edges } = this;
    const rows = until - this.bandStart;
    const rowValues = width * classes;
    for (let r = 0; r < rows; r++) {
      const row = this.bandStart + r;
      if (edges && row * rowValues < edges.top.length)
        edges.top.set(sums.subarray(r * rowValues, (r + 1) * rowValues), row * rowValues);
      if (edges && row >= edges.bottomStart)
        edges.bottom.set(sums.subarray(r * rowValues, (r + 1) * rowValues), (row - edges.bottomStart) * rowValues);
      argmaxSums(sums, r * rowValues, width, classes, classValues, mask, row * width);
    }
    const kept = rows * width * classes;
    sums.copyWithin(0, kept);
    sums.fill(0, sums.length - kept);
    this.bandStart = until;
  }
}

/**
 * Class of each of `pixels` pixels from their per-class sums (pixel-major, `classes` per pixel, from `at`): the
 * first maximum wins. Written as `classValues[argmax]` from `outAt`.
 */
export function argmaxSums(
  sums: Float64Array,
  at: number,
  pixels: number,
  classes: number,
  classValues: Uint8Array,
  out: Uint8Array,
  outAt: number,
): void {
  for (let x = 0; x < pixels; x++) {
    const base = at + x * classes;
    let best = sums[base]!;
    let bestClass = 0;
    for (let c = 1; c < classes; c++) {
      const v = sums[base + c]!;
      if (v > best) {
        best = v;
        bestClass = c;
      }
    }
    out[outAt + x] = classValues[bestClass]!;
  }
}

// ---------------------------------------------------------------------------------------------
// ONNX runtime
// ---------------------------------------------------------------------------------------------

export interface OnnxValueInfo {
  name: string;
  /** Numbers for fixed sizes, strings for symbolic ones; empty when the model leaves the shape open. */
  dims: Array<number | string>;
  type: string;
}

export interface OnnxSignature {
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

function describeValues(metadata: readonly ort.InferenceSession.ValueMetadata[]): OnnxValueInfo[] {
  return metadata.map((value) =>
    value.isTensor
      ? {
          name: value.name,
          dims: [...value.shape].map((d) => (typeof d === 'number' && d < 0 ? 'dynamic' : d)),
          type: value.type,
        }
      : { name: value.name, dims: [], type: 'non-tensor' },
  );
}

function cleanOrtMessage(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  return message
    .replace(/^Load model from .*? failed:\s*/i, '')
    .replace(/^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*/i, '')
    .trim();
}

/**
 * Loads an ONNX file once to read its inputs and outputs. Throws an Error whose message says why the
 * file is not a loadable model (used by model registration to answer 422).
 */
export async function validateOnnxModel(modelPath: string): Promise<OnnxSignature> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(modelPath);
  } catch {
    throw new Error('the model file does not exist');
  }
  if (stat.size === 0) throw new Error('the model file is empty');
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, {
      graphOptimizationLevel: 'disabled',
      intraOpNumThreads: 1,
    });
  } catch (error) {
    const reason = cleanOrtMessage(error) || 'onnxruntime could not load the file';
    throw new Error(
      /protobuf parsing failed/i.test(reason)
        ? `${reason.replace(/\.$/, '')} (the file is not an ONNX model, or it is truncated)`
        : reason,
    );
  }
  try {
    const signature = {
      inputs: describeValues(session.inputMetadata),
      outputs: describeValues(session.outputMetadata),
    };
    if (signature.inputs.length === 0 || signature.outputs.length === 0)
      throw new Error('the graph has no inputs or no outputs');
    return signature;
  } finally {
    await session.release();
  }
}

export interface SegmenterOptions {
  /**
   * Threads inside one operator (onnxruntime intraOpNumThreads), per model thread. Default (0, auto): every core
   * for a run that has the pool to itself, a share of the cores for runs side by side (see OnnxSegmenter).
   */
  intraOpThreads?: number;
  /**
   * Most tiles per session.run, taken across the pending segment() calls of the model. Default 4 on the CPU,
   * 16 on CUDA (a GPU is only kept busy by bigger runs). Ignored when the model has a fixed batch dimension.
   */
  batchSize?: number;
  /** Execution providers in order of preference (ONNX_EXECUTION_PROVIDERS); the first that loads is used. Default CPU. */
  executionProviders?: readonly ExecutionProviderName[];
  /** Default 'sequential'. */
  executionMode?: 'sequential' | 'parallel';
  /** Default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

export interface SegmentOptions {
  /** Called after each run with tiles done and total (once with 0 at the start, and every 2 s while nothing advances). */
  onProgress?: (done: number, total: number) => void;
  /** Drops the remaining tiles; segment() then rejects with signal.reason. */
  signal?: AbortSignal;
  /**
   * The caller is done with raster.bands: the picked bands are handed to the model thread (transferred, so
   * they become empty here) instead of copied. Saves a copy of the input per call.
   */
  handOverBands?: boolean;
  /** Time series models with a date input: each frame's acquisition time, oldest first. */
  frameDates?: string[];
  /** A scene window: the raw class sums of its first `top` and last `bottom` rows come back (SegmentOutcome.edges). */
  edgeRows?: { top: number; bottom: number };
  /**
   * Several calls of one input run at once on the pool's threads (a scene's windows): each takes one core's share
   * of threads, like small files side by side, rather than every core.
   */
  sideBySide?: boolean;
}

/** The onnxruntime session options OnnxSegmenter uses (benchmarks build the same sessions). */
export function sessionOptionsFor(options: SegmenterOptions): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads:
      options.intraOpThreads && options.intraOpThreads > 0 ? options.intraOpThreads : os.availableParallelism(),
    interOpNumThreads: 1,
    executionMode: options.executionMode ?? 'sequential',
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    executionProviders: [...(options.executionProviders ?? ['cpu'])],
    enableCpuMemArena: true,
    enableMemPattern: true,
    // Idle intra-op threads sleep instead of spinning: the worker shares its cores with I/O, GDAL and Node.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/** Default tiles per run: enough to amortize a run on the CPU; a GPU needs more work per launch. */
const CPU_BATCH_SIZE = 4;
const GPU_BATCH_SIZE = 16;

export class ModelShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelShapeError';
  }
}

/** Errors from a model thread arrive as plain Errors carrying the original name. */
function restoreModelShapeError(error: unknown): never {
  throw error instanceof Error && error.name === 'ModelShapeError' && !(error instanceof ModelShapeError)
    ? new ModelShapeError(error.message)
    : error;
}

/**
 * A model checked against its spec. segment() runs in the model threads it was loaded on (model-thread.ts),
 * so the main thread stays free for I/O while the model computes.
 */
export class OnnxSegmenter {
  private constructor(
    private readonly threads: ModelThreadPool,
    readonly modelPath: string,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
    readonly spec: ModelInputDataSpec,
    readonly inputName: string,
    readonly outputName: string,
    readonly batchSize: number,
    /** True when the model's batch dimension is fixed: every run is padded to `batchSize`. */
    readonly fixedBatch: boolean,
    /** The execution provider the model loaded on (`cuda`, or `cpu` also when CUDA could not be loaded). */
    readonly executionProvider: string,
    /** Why the providers before it in the list were passed over (CUDA's load error), when any were. */
    readonly providerFallback: string | undefined,
    /** Time series models whose graph fixes the number of frames: that number. */
    readonly fixedFrames: number | undefined,
    /** Channels of the model output: one per class, or the regression channels. */
    readonly outputChannels: number,
    /**
     * Threads auto (ONNX_INTRA_OP_THREADS unset) on a pool of several threads: the options of inputs that fit in one
     * run (small files), with a share of the cores each (one per thread on a pool of one per core), so many run side
     * by side; inputs of several runs (scenes) use `sessionOptions`, every core for each run.
     */
    private readonly sideBySideOptions: ort.InferenceSession.SessionOptions | undefined,
  ) {}

  /**
   * Loads the model in a thread of `threads` (the session stays cached there) and checks its input and output
   * against the spec.
   */
  static async load(
    threads: ModelThreadPool,
    modelPath: string,
    spec: ModelInputDataSpec,
    options: SegmenterOptions = {},
  ): Promise<OnnxSegmenter> {
    const sessionOptions = sessionOptionsFor(options);
    const autoThreads = !(options.intraOpThreads && options.intraOpThreads > 0);
    const { inputs, outputs, executionProvider, providerFallback } = await threads.describe(modelPath, sessionOptions);
    // A time series model may take its frames' dates as a second input: the image input is the other one.
    const datesName = spec.temporal?.dates_input?.name;
    const input = inputs.find((entry) => entry.name !== datesName);
    const output = outputs[0];
    if (!input || !output) throw new ModelShapeError('the model has no input or no output');
    if (!input.isTensor || !output.isTensor) throw new ModelShapeError('the model input and output must be tensors');
    if (input.type !== 'float32')
      throw new ModelShapeError(`the model input "${input.name}" is ${input.type}; float32 is required`);
    const dims = input.shape;
    const fixed = (d: number | string | undefined): d is number => typeof d === 'number' && d > 0;
    const shapeText = `[${dims.join(', ')}]`;
    if (spec.temporal) {
      const mismatch =
        temporalShapeMismatch({ ...spec, temporal: spec.temporal }, input.name, dims) ??
        datesInputMismatch(
          spec.temporal,
          inputs.map((entry) => ({ name: entry.name, dims: entry.shape })),
        );
      if (mismatch) throw new ModelShapeError(mismatch.message);
    } else if (dims.length !== 4)
      throw new ModelShapeError(
        `the model input "${input.name}" has shape ${shapeText}; [batch, bands, height, width] is required`,
      );
    if (!spec.temporal && fixed(dims[1]) && dims[1] !== spec.bands.length) {
      throw new ModelShapeError(
        `the model takes ${dims[1]} input channels (input "${input.name}" ${shapeText}) but the spec declares ${spec.bands.length} bands`,
      );
    }
    if (
      !spec.temporal &&
      ((fixed(dims[2]) && dims[2] !== spec.tile_size) || (fixed(dims[3]) && dims[3] !== spec.tile_size))
    ) {
      throw new ModelShapeError(
        `the model input is ${dims[2]} x ${dims[3]} pixels (input "${input.name}" ${shapeText}) but tile_size is ${spec.tile_size}`,
      );
    }
    const outDims = output.shape;
    const regression = taskTypeOf(spec) === 'regression';
    if (regression) {
      if (output.type !== 'float32')
        throw new ModelShapeError(`the regression output "${output.name}" is ${output.type}; float32 is required`);
    } else {
      if (outDims.length === 4 && fixed(outDims[1]) && outDims[1] !== spec.classes.length) {
        throw new ModelShapeError(
          `the model outputs ${outDims[1]} class channels but the spec declares ${spec.classes.length} classes`,
        );
      }
      if (spec.classes.length === 0) throw new ModelShapeError('the spec declares no classes');
      for (const value of [...spec.classes.map((c) => c.value), spec.output_nodata ?? 255]) {
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255)
          throw new ModelShapeError(
            `class and output_nodata values must be integers 0..255 (uint8 mask), got ${value}`,
          );
      }
    }
    const outputChannels = regressionChannels(spec, outDims) ?? spec.classes.length;
    const fixedBatch = fixed(dims[0]);
    const defaultBatch = executionProvider === 'cuda' ? GPU_BATCH_SIZE : CPU_BATCH_SIZE;
    const batchSize = fixedBatch ? (dims[0] as number) : Math.max(1, Math.floor(options.batchSize ?? defaultBatch));
    return new OnnxSegmenter(
      threads,
      modelPath,
      sessionOptions,
      spec,
      input.name,
      output.name,
      batchSize,
      fixedBatch,
      executionProvider,
      providerFallback,
      spec.temporal ? graphFrames(spec.temporal, spec.bands.length, dims) : undefined,
      outputChannels,
      autoThreads && executionProvider !== 'cuda' && threads.maxThreads > 1
        ? {
            ...sessionOptions,
            intraOpNumThreads: Math.max(1, Math.floor(os.availableParallelism() / threads.maxThreads)),
          }
        : undefined,
    );
  }

  /** Model threads this segmenter's calls may run on at once. */
  get threadCount(): number {
    return this.threads.maxThreads;
  }

  /** Tiles this segmenter would run for a width x height input. */
  plan(width: number, height: number): TileWindow[] {
    return planTiles(width, height, this.spec.tile_size, this.spec.tile_overlap);
  }

  /**
   * Runs the model over the whole raster in a model thread; returns one class value per pixel (row-major).
   * The picked bands are copied when a thread takes the call, so `raster` stays usable, also by concurrent
   * calls; it must not change until the call has settled.
   */
  async segment(raster: Raster, options: SegmentOptions = {}): Promise<Uint8Array> {
    return (await this.segmentDetailed(raster, options)).mask;
  }

  /** segment(), also saying which execution provider computed the mask. */
  async segmentDetailed(raster: Raster, options: SegmentOptions = {}): Promise<SegmentOutcome> {
    const { width, height } = raster;
    if (raster.bands.some((band) => band.length !== width * height))
      throw new Error(`raster bands do not hold ${width} x ${height} values`);
    const stack = this.stackOf(raster, options.frameDates);
    bandPlans(stack.spec, raster.bands, raster.bandCount); // rejects a missing band or a zero std before any work
    const total = this.plan(width, height).length;
    // Threads auto: an input of several runs (a scene) spreads each run over every core; inputs of one run (small
    // files) take one core's share each and run side by side in the pool's threads.
    const sessionOptions =
      this.sideBySideOptions && (total <= this.batchSize || options.sideBySide)
        ? this.sideBySideOptions
        : this.sessionOptions;
    const batchKey = JSON.stringify([this.modelPath, sessionOptions, this.batchSize]);
    return this.threads
      .segment(() => this.prepareJob(raster, sessionOptions, options.handOverBands ?? false, stack, options.edgeRows), {
        batchKey,
        batchSize: this.batchSize,
        total,
        onProgress: options.onProgress,
        signal: options.signal,
      })
      .catch(restoreModelShapeError);
  }

  /**
   * The job for a model thread, made when a thread takes the call. One copy of each picked band, then
   * transferred: no second copy by postMessage, and the caller's arrays stay attached.
   */
  private prepareJob(
    raster: Raster,
    sessionOptions: ort.InferenceSession.SessionOptions,
    handOver: boolean,
    stack: FrameStack,
    edgeRows: SegmentOptions['edgeRows'],
  ): PreparedJob {
    const { spec } = stack;
    const bands: Array<RasterTypedArray | null> = raster.bands.map(() => null);
    const transfer: ArrayBuffer[] = [];
    spec.bands.forEach((band, position) => {
      const index = (band.source_index ?? position + 1) - 1;
      if (bands[index]) return;
      const source = raster.bands[index]!;
      // Only a band that owns its whole buffer can be handed over; one sharing it is copied.
      const ownsBuffer =
        source.byteOffset === 0 &&
        source.byteLength === source.buffer.byteLength &&
        !transfer.includes(source.buffer as ArrayBuffer);
      const sent = handOver && ownsBuffer ? source : source.slice();
      bands[index] = sent;
      transfer.push(sent.buffer as ArrayBuffer);
    });
    const job: SegmentJob = {
      modelPath: this.modelPath,
      sessionOptions,
      spec,
      batchSize: this.batchSize,
      fixedBatch: this.fixedBatch,
      width: raster.width,
      height: raster.height,
      bands,
      bandCount: raster.bandCount,
      nodata: spec.nodata ?? raster.nodata,
      ...stack.job,
      outputChannels: this.outputChannels,
      ...(edgeRows ? { edgeRows } : {}),
    };
    return { job, transfer };
  }

  /**
   * What the model thread needs for this raster: a single date as is; a time series (spec `temporal`) as one band
   * entry per tensor plane in the layout's order (temporal-input.ts), the tile shape and the frames' dates.
   */
  stackOf(raster: Raster, frameDates?: string[]): FrameStack {
    const { spec } = this;
    if (!spec.temporal) return { spec, frames: 1, job: {} };
    const counted = framesInInput(spec, raster.bandCount);
    if ('error' in counted) throw new FrameStackError(counted.error);
    const { frames } = counted;
    if (this.fixedFrames !== undefined && frames !== this.fixedFrames)
      throw new FrameStackError(
        `the model takes ${this.fixedFrames} time steps but the input holds ${frames} frame(s)`,
      );
    const datesInput = spec.temporal.dates_input;
    let dates: SegmentJob['dates'];
    if (datesInput) {
      if (!frameDates || frameDates.length !== frames)
        throw new FrameStackError(
          `the model takes the frames' dates (input "${datesInput.name}") but ${frameDates ? `${frameDates.length} date(s) were given for ${frames} frame(s)` : 'the input carries none'}`,
        );
      dates = { name: datesInput.name, ...encodeFrameDates(datesInput.encoding, frameDates) };
    }
    return {
      spec: expandTemporalSpec(spec, frames),
      frames,
      job: { inputName: this.inputName, tileShape: tileInputShape(spec, frames), ...(dates ? { dates } : {}) },
    };
  }
}

/** A time series input that does not fit the model (frame count, dates): the input's fault. */
export class FrameStackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameStackError';
  }
}

/** A raster as the model thread takes it (see OnnxSegmenter.stackOf). */
export interface FrameStack {
  spec: ModelInputDataSpec;
  frames: number;
  job: Pick<SegmentJob, 'inputName' | 'tileShape' | 'dates'>;
}

/**
 * Output channels of a regression model: the graph's fixed channel dimension, else the spec's output_bands, else 1;
 * undefined for segmentation. A spec naming output_bands that disagree with the graph is a shape error.
 */
export function regressionChannels(
  spec: ModelInputDataSpec,
  outputDims: ReadonlyArray<number | string>,
): number | undefined {
  if (taskTypeOf(spec) !== 'regression') return undefined;
  const graph =
    outputDims.length === 4 && typeof outputDims[1] === 'number' && outputDims[1] > 0 ? outputDims[1] : undefined;
  const named = spec.output_bands?.length;
  if (graph !== undefined && named !== undefined && graph !== named)
    throw new ModelShapeError(`the model outputs ${graph} channels but the spec names ${named} output_bands`);
  return graph ?? named ?? 1;
}
