import '../fixtures/jest-native-realm';
import * as path from 'node:path';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';
import { ModelThreadPool } from '../../src/geo/model/model-thread';
import { OnnxSegmenter } from '../../src/geo/model/segmentation';
import { planSceneWindows, type SceneWindow } from '../../src/geo/model/scene-windows';
import { segmentScene, sceneWindowsFor, type SceneRunState } from '../../src/geo/model/scene-segmentation';
import type { Raster } from '../../src/geo/raster/raster';

/**
 * A scene run window by window gives the mask of the whole-image run, for every tile_blending, any window height,
 * windows side by side on several threads, and after a resume from any committed window.
 * tiny_position.onnx: logit c is 100 at tile pixel c (row * 8 + col), so the winning tile position of every pixel
 * shows any difference in tile order, weights or edges.
 */
const POSITION_MODEL = path.join(__dirname, '..', 'fixtures', 'tiny_position.onnx');

function randomRaster(width: number, height: number, seed: number, nodataEvery = 0): Raster {
  let state = seed;
  const band = new Uint16Array(width * height).map(() => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return 1 + (state % 1000);
  });
  if (nodataEvery > 0) for (let i = 0; i < band.length; i += nodataEvery) band[i] = 0;
  return {
    width,
    height,
    bandCount: 1,
    dataType: 'uint16',
    bands: [band],
    georef: { geoKeys: {} },
    nodata: nodataEvery > 0 ? 0 : null,
  };
}

function rowsOf(raster: Raster, window: SceneWindow): Raster {
  const { width } = raster;
  return {
    ...raster,
    height: window.inputEnd - window.inputStart,
    bands: raster.bands.map((band) => band.slice(window.inputStart * width, window.inputEnd * width)),
  };
}

async function runScene(
  segmenter: OnnxSegmenter,
  raster: Raster,
  windows: SceneWindow[],
  concurrency: number,
  resume?: { stopAfter: number },
): Promise<{ mask: Uint8Array; computed: number[] }> {
  const mask = new Uint8Array(raster.width * raster.height).fill(254);
  let expectedRow = 0;
  const computed: number[] = [];
  const onRows = async (y0: number, rows: Uint8Array) => {
    expect(y0).toBe(expectedRow);
    mask.set(rows, y0 * raster.width);
    expectedRow = y0 + rows.length / raster.width;
  };
  let saved: SceneRunState | undefined;
  const options = {
    width: raster.width,
    height: raster.height,
    windows,
    concurrency,
    readWindow: async (window: SceneWindow) => {
      computed.push(window.index);
      return rowsOf(raster, window);
    },
    onRows,
  };
  if (resume) {
    await expect(
      segmentScene(segmenter, {
        ...options,
        onWindowDone: async (state) => {
          // What an attempt stores: a copy, as it would come back from storage.
          saved = {
            nextWindow: state.nextWindow,
            ...(state.carry
              ? { carry: { sums: state.carry.sums.slice(), nodata: state.carry.nodata?.slice() ?? null } }
              : {}),
          };
          if (state.nextWindow === resume.stopAfter) throw new Error('worker lost');
        },
      }),
    ).rejects.toThrow('worker lost');
  }
  const outcome = await segmentScene(segmenter, {
    ...options,
    onWindowDone: async () => undefined,
    ...(saved ? { resumeFrom: saved } : {}),
  });
  expect(outcome.windowsComputed).toBe(windows.length - (saved?.nextWindow ?? 0));
  expect(expectedRow).toBe(raster.height);
  return { mask, computed };
}

describe('scene windows', () => {
  it('partition the rows and read each tile row once', () => {
    for (const [height, tile, overlap, blended, rows] of [
      [29, 8, 3, true, 10],
      [100, 8, 3, false, 12],
      [100, 8, 0, true, 16],
      [7, 8, 3, true, 8],
      [10980, 224, 32, true, 1400],
      [1000, 64, 40, true, 100],
    ] as const) {
      const windows = planSceneWindows(height, tile, overlap, blended, rows);
      let row = 0;
      let tileRow = 0;
      windows.forEach((window, index) => {
        expect(window.tileRowStart).toBe(tileRow);
        tileRow = window.tileRowEnd;
        // Rows shared with the previous window come first, then the window's own rows.
        expect(window.topRows).toBe(index === 0 ? 0 : windows[index - 1]!.bottomRows);
        if (window.topRows > 0) expect(window.inputStart).toBe(row);
        expect(window.finalStart).toBe(row + window.topRows);
        expect(window.finalEnd).toBeGreaterThanOrEqual(window.finalStart);
        expect(window.finalEnd + window.bottomRows).toBeLessThanOrEqual(window.inputEnd);
        row = window.finalEnd;
      });
      expect(row).toBe(height);
      expect(windows[windows.length - 1]!.bottomRows).toBe(0);
    }
  });
});

describe('segmentScene', () => {
  const threads = new ModelThreadPool(2);
  afterAll(() => threads.close());

  it.each([
    ['center', 29, 37, 10, 1, 3],
    ['linear', 29, 37, 10, 1, 3],
    ['cosine', 57, 23, 14, 2, 3],
    ['cosine', 100, 19, 9, 2, 3],
    ['linear', 100, 19, 30, 2, 3],
    ['center', 100, 19, 9, 2, 3],
    ['cosine', 61, 13, 9, 2, 6],
    ['linear', 45, 11, 1, 2, 0],
  ] as const)(
    '%s blending, %i x %i rows, windows of %i rows, %i at once, overlap %i: the whole-image mask',
    async (blending, height, width, rows, concurrency, overlap) => {
      const spec: ModelInputDataSpec = {
        bands: [{ name: 'any' }],
        tile_size: 8,
        tile_overlap: overlap,
        classes: Array.from({ length: 64 }, (_, value) => ({ value, name: `position ${value}` })),
        tile_blending: blending,
      };
      const segmenter = await OnnxSegmenter.load(threads, POSITION_MODEL, spec, { batchSize: 5 });
      const raster = randomRaster(width, height, height * width, 17);
      const whole = await segmenter.segment(raster);
      const windows = sceneWindowsFor(segmenter, height, rows);
      expect(windows.length).toBeGreaterThan(1);
      const { mask } = await runScene(segmenter, raster, windows, concurrency);
      expect(Array.from(mask)).toEqual(Array.from(whole));
    },
  );

  it('resumes from any committed window with the bytes of an uninterrupted run, computing only the rest', async () => {
    const spec: ModelInputDataSpec = {
      bands: [{ name: 'any' }],
      tile_size: 8,
      tile_overlap: 3,
      classes: Array.from({ length: 64 }, (_, value) => ({ value, name: `position ${value}` })),
    };
    const segmenter = await OnnxSegmenter.load(threads, POSITION_MODEL, spec, { batchSize: 3 });
    const raster = randomRaster(31, 120, 5, 13);
    const windows = sceneWindowsFor(segmenter, raster.height, 16);
    const uninterrupted = await runScene(segmenter, raster, windows, 2);
    for (const stopAfter of [1, Math.floor(windows.length / 2), windows.length - 1]) {
      const resumed = await runScene(segmenter, raster, windows, 2, { stopAfter });
      expect(Buffer.compare(Buffer.from(resumed.mask), Buffer.from(uninterrupted.mask))).toBe(0);
      // The resumed run reads each window after the stop once more, and none before it.
      const second = resumed.computed.slice(resumed.computed.lastIndexOf(stopAfter));
      expect(new Set(second)).toEqual(new Set(windows.slice(stopAfter).map((window) => window.index)));
    }
  });
});
