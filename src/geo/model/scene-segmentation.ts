/**
 * A large input segmented window by window (scene-windows.ts): each window is read, run in a model thread and
 * committed in order, so memory holds only the windows in flight, whatever the scene's size. Windows run side by
 * side on the pool's threads; their blended edges are added here (the previous window's bottom sums plus this
 * window's top sums, always in that order, so a resumed run gives the same bytes as an uninterrupted one).
 */
import { DEFAULT_TILE_BLENDING, maskNodata } from '../../../workflows/contract/model-spec';
import type { Raster } from '../raster/raster';
import { argmaxSums, type OnnxSegmenter } from './segmentation';
import { planSceneWindows, type SceneWindow } from './scene-windows';

/** Where a scene run stands after a committed window: what a later attempt resumes from. */
export interface SceneRunState {
  /** Windows committed (the next one to compute). */
  nextWindow: number;
  /** The last committed window's bottom edge: raw class sums and nodata pixels of rows shared with the next. */
  carry?: { sums: Float64Array; nodata: Uint8Array | null };
}

export interface SceneSegmentationOptions {
  width: number;
  height: number;
  windows: SceneWindow[];
  /** The input rows of a window, full width (`handOverBands`: the arrays are handed to the model thread). */
  readWindow(window: SceneWindow, signal?: AbortSignal): Promise<Raster>;
  /** Finished rows, in image order: rows [y0, y0 + rows.length / width). */
  onRows(y0: number, rows: Uint8Array): Promise<void>;
  /** After each committed window (its rows given to onRows): the state a later attempt may resume from. */
  onWindowDone(state: SceneRunState, window: SceneWindow): Promise<void>;
  /** The input of the first window computed, before it runs (input guardrails). */
  onFirstInput?(raster: Raster): void;
  resumeFrom?: SceneRunState;
  /** Windows computed at once (the model calls in flight); one more is read ahead. */
  concurrency: number;
  signal?: AbortSignal;
  /** Tiles done of all windows (those of committed windows before a resume included). */
  onProgress?(done: number, total: number): void;
  frameDates?: string[];
}

export interface SceneSegmentationOutcome {
  windowsComputed: number;
  executionProvider: string;
  tiles: number;
}

/** The windows of a width x height scene for this segmenter, each reading at most `maxInputRows` rows. */
export function sceneWindowsFor(segmenter: OnnxSegmenter, height: number, maxInputRows: number): SceneWindow[] {
  const { spec } = segmenter;
  const blended = (spec.tile_blending ?? DEFAULT_TILE_BLENDING) !== 'center';
  return planSceneWindows(height, spec.tile_size, spec.tile_overlap, blended, maxInputRows);
}

export async function segmentScene(
  segmenter: OnnxSegmenter,
  options: SceneSegmentationOptions,
): Promise<SceneSegmentationOutcome> {
  const { width, height, windows, signal } = options;
  const { spec } = segmenter;
  const classValues = Uint8Array.from(spec.classes.map((entry) => entry.value));
  const classes = spec.classes.length;
  const outputNodata = maskNodata(spec);
  const tilesOf = windows.map((window) => segmenter.plan(width, window.inputEnd - window.inputStart).length);
  const total = segmenter.plan(width, height).length;
  const first = options.resumeFrom?.nextWindow ?? 0;
  let carry = options.resumeFrom?.carry;
  let committedTiles = tilesOf.slice(0, first).reduce((sum, tiles) => sum + tiles, 0);
  const inFlightDone = new Map<number, number>();
  const report = () => {
    let done = committedTiles;
    for (const tiles of inFlightDone.values()) done += tiles;
    options.onProgress?.(done, total);
  };
  let executionProvider = segmenter.executionProvider;
  let firstInputSeen = false;
  const sideBySide = options.concurrency > 1;

  // The window after those being computed is read meanwhile, so the model never waits for a read.
  const reads = new Map<number, Promise<Raster>>();
  const readOf = (index: number) => {
    let read = reads.get(index);
    if (!read) {
      read = options.readWindow(windows[index]!, signal);
      read.catch(() => undefined); // awaited by compute(); a read ahead of a failed run must not go unhandled
      reads.set(index, read);
    }
    return read;
  };
  const compute = async (window: SceneWindow) => {
    const raster = await readOf(window.index);
    reads.delete(window.index);
    if (!firstInputSeen) {
      firstInputSeen = true;
      options.onFirstInput?.(raster);
    }
    inFlightDone.set(window.index, 0);
    return segmenter.segmentDetailed(raster, {
      handOverBands: true,
      signal,
      sideBySide,
      ...(options.frameDates ? { frameDates: options.frameDates } : {}),
      ...(window.topRows > 0 || window.bottomRows > 0
        ? { edgeRows: { top: window.topRows, bottom: window.bottomRows } }
        : {}),
      onProgress: (done) => {
        inFlightDone.set(window.index, done);
        report();
      },
    });
  };

  const running = new Map<number, ReturnType<typeof compute>>();
  let lastLaunched = first - 1;
  const launch = (index: number) => {
    if (index >= windows.length || running.has(index)) return;
    lastLaunched = Math.max(lastLaunched, index);
    const promise = compute(windows[index]!);
    promise.catch(() => undefined); // awaited in order below; a later window's failure must not go unhandled
    running.set(index, promise);
  };
  report();
  try {
    for (let index = first; index < windows.length; index++) {
      // The first window of a run starts alone: the input guardrails see it before the others are read.
      if (index === first) launch(index);
      else for (let ahead = index; ahead < index + options.concurrency; ahead++) launch(ahead);
      const window = windows[index]!;
      const outcome = await running.get(index)!;
      running.delete(index);
      signal?.throwIfAborted();
      executionProvider = outcome.executionProvider;
      if (window.topRows > 0) {
        const top = outcome.edges?.top;
        if (!carry || !top || carry.sums.length !== top.length)
          throw new Error(`scene window ${index}: the blended edge of the previous window is missing`);
        const sums = carry.sums;
        for (let i = 0; i < sums.length; i++) sums[i] = sums[i]! + top[i]!;
        const rows = new Uint8Array(window.topRows * width);
        argmaxSums(sums, 0, rows.length, classes, classValues, rows, 0);
        const nodata = outcome.edges?.topNodata;
        if (nodata) for (let i = 0; i < rows.length; i++) if (nodata[i] === 1) rows[i] = outputNodata;
        await options.onRows(window.inputStart, rows);
      }
      const { mask } = outcome;
      await options.onRows(
        window.finalStart,
        mask.subarray((window.finalStart - window.inputStart) * width, (window.finalEnd - window.inputStart) * width),
      );
      carry =
        window.bottomRows > 0 && outcome.edges
          ? { sums: outcome.edges.bottom, nodata: outcome.edges.bottomNodata ?? null }
          : undefined;
      inFlightDone.delete(index);
      committedTiles += tilesOf[index]!;
      report();
      await options.onWindowDone({ nextWindow: index + 1, ...(carry ? { carry } : {}) }, window);
      for (let ahead = index + 1; ahead < index + 1 + options.concurrency; ahead++) launch(ahead);
      if (lastLaunched + 1 < windows.length) void readOf(lastLaunched + 1);
    }
  } finally {
    // A failed or cancelled run: windows still in flight are dropped (their model calls see the signal).
    running.clear();
    reads.clear();
  }
  return { windowsComputed: windows.length - first, executionProvider, tiles: total };
}
