/**
 * `model-inference` of a large input, window by window (src/geo/model/scene-segmentation.ts): the input is read
 * by ranged reads of its blocks, the mask is stored block row by block row as it is finished, and the COG is
 * assembled from the stored block rows at the end (overviews from the written tiles). Memory holds the windows in
 * flight, not the scene. After each window the attempt stores a checkpoint and heartbeats its key, so an attempt on
 * another worker (the first one killed, drained or timed out) continues from the last committed window.
 */
import * as path from 'node:path';
import type { ActivityDeps } from './deps';
import { currentActivity } from './runtime/activity-context';
import { previousStepHeartbeat } from './runtime/step-heartbeat-details';
import { stepProgress } from './runtime/step-progress';
import type { StepLog } from './runtime/step-log';
import { DEFAULT_TILE_BLENDING, maskNodata, type ModelInputDataSpec } from '../workflows/contract/model-spec';
import type { OnnxSegmenter } from '../src/geo/model/segmentation';
import { sceneWindowsFor, segmentScene, type SceneRunState } from '../src/geo/model/scene-segmentation';
import type { SceneWindow } from '../src/geo/model/scene-windows';
import type { Raster } from '../src/geo/raster/raster';
import {
  assembleMaskCog,
  blockRowCount,
  encodeMaskBlockRow,
  maskCogLayout,
  type MaskCogLayout,
} from '../src/geo/raster/streaming-mask-cog';
import type { WindowedGeoTiff } from '../src/geo/raster/windowed-geotiff';
import { storageKeys } from '../src/platform/storage/keys';
import { withTempDir } from '../src/platform/temp-dir';

/** What a scene attempt heartbeats beside its tile count: where the next attempt resumes from. */
export interface SceneHeartbeat {
  checkpoint_key: string;
  /** Identifies the window plan and model: a checkpoint of another plan is not resumed from. */
  plan: string;
  windows_done: number;
  windows_total: number;
}

export interface SceneRunResult {
  outputKey: string;
  tiles: number;
  executionProvider: string;
  histogram: Uint32Array;
  windows: { total: number; computed: number; resumed_from: number };
}

export interface SceneRunRequest {
  inferenceId: string;
  taskId: string;
  /** The model file's hash, part of the plan a checkpoint belongs to. */
  modelSha256: string;
  inputKey: string;
}

/** Block rows of the mask COG: GDAL's COG default, as encodeMaskCog writes. */
const BLOCK_SIZE = 256;

/** Runs `segmenter` over `input` window by window and stores the mask COG under the task's output key. */
export async function runSceneSegmentation(
  deps: ActivityDeps,
  segmenter: OnnxSegmenter,
  spec: ModelInputDataSpec,
  request: SceneRunRequest,
  input: WindowedGeoTiff,
  log: StepLog,
  options: { frameDates?: string[]; onFirstInput?: (raster: Raster) => void },
): Promise<SceneRunResult> {
  const { width, height } = input;
  const concurrency = Math.max(1, segmenter.threadCount);
  const maxInputRows = Math.max(
    1,
    // The windows being computed and the one read ahead share MODEL_WINDOW_MB.
    Math.floor((deps.config.MODEL_WINDOW_MB * 1024 * 1024) / (concurrency + 1) / Math.max(1, input.rowBytes)),
  );
  const windows = sceneWindowsFor(segmenter, height, maxInputRows);
  const layout = maskCogLayout(width, height, { nodata: maskNodata(spec), blockSize: BLOCK_SIZE });
  const partsPrefix = `${storageKeys.modelOutput(request.inferenceId, request.taskId)}.parts/`;
  const checkpointKey = `${partsPrefix}checkpoint`;
  const blockKey = (row: number) => `${partsPrefix}block-${String(row).padStart(6, '0')}`;
  const stored = await deps.store.stat(request.inputKey);
  const plan = JSON.stringify([
    width,
    height,
    windows.map((window) => window.tileRowEnd),
    spec.tile_size,
    spec.tile_overlap,
    spec.tile_blending ?? DEFAULT_TILE_BLENDING,
    request.modelSha256,
    request.inputKey,
    // A refetched input (another scene at the same key) starts over.
    stored?.lastModified.toISOString() ?? null,
    stored?.size ?? null,
    BLOCK_SIZE,
  ]);

  const resumed = await loadCheckpoint(deps, request.taskId, checkpointKey, plan, layout);
  const rows = new PendingRows(width, resumed?.blockRowsWritten ?? 0, layout);
  if (resumed) {
    rows.restore(resumed.pending);
    log.info(
      `resuming at window ${resumed.state.nextWindow + 1} of ${windows.length} (${resumed.blockRowsWritten} block rows already stored)`,
    );
  }
  const signal = currentActivity()?.cancellationSignal;
  const progress = stepProgress(deps, 'model-inference', request.taskId);
  let lastHeartbeat: SceneHeartbeat | undefined = resumed
    ? { checkpoint_key: checkpointKey, plan, windows_done: resumed.state.nextWindow, windows_total: windows.length }
    : undefined;
  log.info(
    `scene of ${width} x ${height}: ${windows.length} windows of up to ${Math.max(...windows.map((w) => w.inputEnd - w.inputStart))} rows, ${concurrency} at once`,
  );

  const outcome = await segmentScene(segmenter, {
    width,
    height,
    windows,
    concurrency,
    signal,
    ...(resumed ? { resumeFrom: resumed.state } : {}),
    ...(options.frameDates ? { frameDates: options.frameDates } : {}),
    ...(options.onFirstInput ? { onFirstInput: options.onFirstInput } : {}),
    readWindow: (window: SceneWindow, windowSignal?: AbortSignal) =>
      input.readWindow({ x: 0, y: window.inputStart, w: width, h: window.inputEnd - window.inputStart }, windowSignal),
    onRows: async (y0, pixels) => {
      for (const block of rows.add(y0, pixels))
        await deps.store.putObject(blockKey(block.row), await encodeMaskBlockRow(layout, block.row, block.pixels));
    },
    onWindowDone: async (state, window) => {
      await deps.store.putObject(checkpointKey, encodeCheckpoint(plan, state, rows, windows.length));
      lastHeartbeat = {
        checkpoint_key: checkpointKey,
        plan,
        windows_done: window.index + 1,
        windows_total: windows.length,
      };
    },
    onProgress: (done, total) =>
      progress.report(
        { done, total, unit: 'tiles' },
        { tiles_done: done, tiles_total: total, ...(lastHeartbeat ? { scene: lastHeartbeat } : {}) },
      ),
  });
  await progress.flush();
  for (const block of rows.flush())
    await deps.store.putObject(blockKey(block.row), await encodeMaskBlockRow(layout, block.row, block.pixels));

  const outputKey = storageKeys.modelOutput(request.inferenceId, request.taskId);
  const histogram = await withTempDir('scene-output', async (dir) => {
    const file = path.join(dir, 'model-output.tif');
    const assembled = await assembleMaskCog(layout, input.georef, (row) => deps.store.getObject(blockKey(row)), file);
    await deps.store.putFile(outputKey, file, { contentType: 'image/tiff' });
    return assembled.histogram;
  });
  await deps.store.deletePrefix(partsPrefix);
  const resumedFrom = resumed?.state.nextWindow ?? 0;
  log.info(
    `${outcome.windowsComputed} of ${windows.length} windows computed${resumedFrom > 0 ? ` (resumed after window ${resumedFrom})` : ''}`,
  );
  return {
    outputKey,
    tiles: outcome.tiles,
    executionProvider: outcome.executionProvider,
    histogram,
    windows: { total: windows.length, computed: outcome.windowsComputed, resumed_from: resumedFrom },
  };
}

/**
 * Finished mask rows not yet stored: whole block rows leave as soon as they are complete, so at most one block row
 * and one window's rows are held.
 */
class PendingRows {
  private chunks: Uint8Array[] = [];
  private held = 0;

  constructor(
    private readonly width: number,
    /** Block rows already stored: the held rows start at blockRowsWritten * blockSize. */
    public blockRowsWritten: number,
    private readonly layout: MaskCogLayout,
  ) {}

  get start(): number {
    return this.blockRowsWritten * this.layout.blockSize;
  }

  /** Held rows, concatenated (for a checkpoint). */
  pixels(): Uint8Array {
    return concat(this.chunks, this.held * this.width);
  }

  restore(pixels: Uint8Array): void {
    this.chunks = pixels.length > 0 ? [pixels] : [];
    this.held = pixels.length / this.width;
  }

  add(y0: number, pixels: Uint8Array): Array<{ row: number; pixels: Uint8Array }> {
    if (y0 !== this.start + this.held)
      throw new Error(`scene rows out of order: ${y0} after ${this.start + this.held}`);
    if (pixels.length === 0) return [];
    this.chunks.push(pixels.slice());
    this.held += pixels.length / this.width;
    const blocks: Array<{ row: number; pixels: Uint8Array }> = [];
    const { blockSize } = this.layout;
    while (this.held >= blockSize || (this.held > 0 && this.start + this.held >= this.layout.height)) {
      const take = Math.min(blockSize, this.held);
      const all = concat(this.chunks, this.held * this.width);
      blocks.push({ row: this.blockRowsWritten, pixels: all.subarray(0, take * this.width) });
      const rest = all.slice(take * this.width);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.held -= take;
      this.blockRowsWritten += 1;
    }
    return blocks;
  }

  /** Whatever is left once every window is committed (nothing, when the rows reached the image's end). */
  flush(): Array<{ row: number; pixels: Uint8Array }> {
    if (this.held === 0) return [];
    if (this.blockRowsWritten >= blockRowCount(this.layout)) return [];
    throw new Error(`scene incomplete: ${this.held} rows left at row ${this.start}`);
  }
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length === length) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Checkpoint object: a JSON header (4-byte length first), then the held rows, the carried sums and nodata. */
function encodeCheckpoint(plan: string, state: SceneRunState, rows: PendingRows, windowsTotal: number): Buffer {
  const pending = rows.pixels();
  const sums = state.carry?.sums ?? new Float64Array(0);
  const nodata = state.carry?.nodata ?? null;
  const header = Buffer.from(
    JSON.stringify({
      plan,
      nextWindow: state.nextWindow,
      windowsTotal,
      blockRowsWritten: rows.blockRowsWritten,
      pendingBytes: pending.length,
      carry: state.carry ? { sums: sums.length, nodata: nodata ? nodata.length : null } : null,
    }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  return Buffer.concat([
    length,
    header,
    Buffer.from(pending.buffer, pending.byteOffset, pending.byteLength),
    Buffer.from(sums.buffer, sums.byteOffset, sums.byteLength),
    ...(nodata ? [Buffer.from(nodata.buffer, nodata.byteOffset, nodata.byteLength)] : []),
  ]);
}

interface LoadedCheckpoint {
  state: SceneRunState;
  blockRowsWritten: number;
  pending: Uint8Array;
}

/** The checkpoint the previous attempt heartbeated, when it is of this plan and still stored. */
async function loadCheckpoint(
  deps: ActivityDeps,
  taskId: string,
  checkpointKey: string,
  plan: string,
  layout: MaskCogLayout,
): Promise<LoadedCheckpoint | undefined> {
  // The stored checkpoint is read even when the last heartbeat that reached the server is older (heartbeats are
  // throttled): it is written after the block rows it counts, and any attempt of this plan writes the same bytes.
  const previous = previousStepHeartbeat(taskId) as { scene?: SceneHeartbeat } | undefined;
  if (previous?.scene && previous.scene.plan !== plan) return undefined;
  if (!(await deps.store.exists(checkpointKey))) return undefined;
  const bytes = await deps.store.getObject(checkpointKey);
  const headerLength = bytes.readUInt32LE(0);
  const header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as {
    plan: string;
    nextWindow: number;
    blockRowsWritten: number;
    pendingBytes: number;
    carry: { sums: number; nodata: number | null } | null;
  };
  if (header.plan !== plan) return undefined;
  let at = 4 + headerLength;
  const take = (length: number) => {
    const slice = new Uint8Array(length);
    slice.set(bytes.subarray(at, at + length));
    at += length;
    return slice;
  };
  const pending = take(header.pendingBytes);
  let carry: SceneRunState['carry'];
  if (header.carry) {
    const sums = new Float64Array(take(header.carry.sums * 8).buffer);
    const nodata = header.carry.nodata === null ? null : take(header.carry.nodata);
    carry = { sums, nodata };
  }
  if (header.blockRowsWritten > blockRowCount(layout)) return undefined;
  return {
    state: { nextWindow: header.nextWindow, ...(carry ? { carry } : {}) },
    blockRowsWritten: header.blockRowsWritten,
    pending,
  };
}
