// geotiff.js (imported by the src/geo/raster modules) requires the ESM-only `quick-lru`, which Jest's
// CommonJS runtime cannot load; stand in a Map for it.
jest.mock('quick-lru', () => ({ __esModule: true, default: class extends Map {} }));

import '../fixtures/jest-native-realm';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';
import type { Raster, RasterTypedArray } from '../../src/geo/raster/raster';
import { ModelThreadPool } from '../../src/geo/model/model-thread';
import { axisOrigins, OnnxSegmenter, planTiles, validateOnnxModel } from '../../src/geo/model/segmentation';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const IDENTITY_MODEL = path.join(FIXTURES, 'tiny_identity.onnx');
const POSITION_MODEL = path.join(FIXTURES, 'tiny_position.onnx');
const TILE = 8;

/** Independent statement of the rule: tile origins, then for a pixel the origin of the tile with the nearest centre. */
function originsByRule(length: number, tile: number, overlap: number): number[] {
  if (length <= tile) return [0];
  const result: number[] = [];
  for (let k = 0; k * (tile - overlap) + tile < length; k++) result.push(k * (tile - overlap));
  if (!result.includes(length - tile)) result.push(length - tile);
  return result;
}
function ownerOrigin(p: number, origins: number[], tile: number): number {
  let best = origins[0]!;
  for (const o of origins) if (Math.abs(p + 0.5 - (o + tile / 2)) < Math.abs(p + 0.5 - (best + tile / 2))) best = o;
  return best;
}

function makeRaster(width: number, height: number, bands: RasterTypedArray[], nodata: number | null = null): Raster {
  return { width, height, bandCount: bands.length, dataType: 'uint16', bands, georef: { geoKeys: {} }, nodata };
}

describe('axisOrigins / planTiles', () => {
  it('places tiles at multiples of the stride and flush with the far edge', () => {
    expect(axisOrigins(512, 256, 32)).toEqual([0, 224, 256]);
    expect(axisOrigins(480, 256, 32)).toEqual([0, 224]); // 2 * stride + overlap: no extra tile
    expect(axisOrigins(256, 256, 32)).toEqual([0]);
    expect(axisOrigins(100, 256, 32)).toEqual([0]);
    expect(axisOrigins(257, 256, 0)).toEqual([0, 1]);
    expect(axisOrigins(1000, 256, 0)).toEqual([0, 256, 512, 744]);
  });

  const cases: Array<[number, number, number, number]> = [
    [5, 3, 8, 2], // smaller than a tile
    [8, 8, 8, 2], // exactly one tile
    [14, 20, 8, 2], // 2 * stride + overlap, and 3 * stride + overlap
    [23, 17, 8, 3],
    [9, 31, 8, 0],
    [512, 480, 256, 32],
    [300, 1, 256, 32],
    [700, 301, 256, 100],
  ];

  it.each(cases)(
    'covers every pixel of %ix%i (tile %i, overlap %i) exactly once, by the nearest tile',
    (width, height, tile, overlap) => {
      const tiles = planTiles(width, height, tile, overlap);
      const count = new Uint8Array(width * height);
      const owner = new Int32Array(width * height).fill(-1);
      tiles.forEach((t, index) => {
        // windows lie inside the image, cores inside the windows
        expect(t.x).toBeGreaterThanOrEqual(0);
        expect(t.y).toBeGreaterThanOrEqual(0);
        expect(t.x + t.w).toBeLessThanOrEqual(width);
        expect(t.y + t.h).toBeLessThanOrEqual(height);
        expect(t.w).toBe(Math.min(tile, width));
        expect(t.h).toBe(Math.min(tile, height));
        expect(t.core.x).toBeGreaterThanOrEqual(t.x);
        expect(t.core.y).toBeGreaterThanOrEqual(t.y);
        expect(t.core.x + t.core.w).toBeLessThanOrEqual(t.x + t.w);
        expect(t.core.y + t.core.h).toBeLessThanOrEqual(t.y + t.h);
        for (let y = t.core.y; y < t.core.y + t.core.h; y++) {
          for (let x = t.core.x; x < t.core.x + t.core.w; x++) {
            count[y * width + x]!++;
            owner[y * width + x] = index;
          }
        }
      });
      expect(count.every((c) => c === 1)).toBe(true);
      const xs = originsByRule(width, tile, overlap);
      const ys = originsByRule(height, tile, overlap);
      expect(tiles).toHaveLength(xs.length * ys.length);
      let wrong = 0;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const t = tiles[owner[y * width + x]!]!;
          if (t.x !== ownerOrigin(x, xs, tile) || t.y !== ownerOrigin(y, ys, tile)) wrong++;
        }
      }
      expect(wrong).toBe(0);
    },
  );

  it('cuts regular tiles overlap/2 from interior sides', () => {
    const [first, second] = planTiles(480, 256, 256, 32);
    expect(first!.core).toEqual({ x: 0, y: 0, w: 240, h: 256 });
    expect(second!.core).toEqual({ x: 240, y: 0, w: 240, h: 256 });
  });

  it('rejects invalid parameters', () => {
    expect(() => planTiles(10, 10, 8, 8)).toThrow(/overlap/);
    expect(() => planTiles(10, 10, 8, -1)).toThrow(/overlap/);
    expect(() => planTiles(0, 10, 8, 2)).toThrow(/size/);
  });
});

describe('OnnxSegmenter with tiny models', () => {
  const threads = new ModelThreadPool(1);
  afterAll(() => threads.close());

  const positionSpec = (overlap: number): ModelInputDataSpec => ({
    bands: [{ name: 'any' }],
    tile_size: TILE,
    tile_overlap: overlap,
    tile_blending: 'center',
    classes: Array.from({ length: TILE * TILE }, (_, i) => ({ value: i, name: `p${i}` })),
  });

  it.each([
    [5, 3, 2],
    [8, 8, 2],
    [14, 20, 2],
    [23, 17, 3],
    [19, 9, 0],
  ])(
    'with tile_blending center, takes each pixel of %ix%i (overlap %i) from the tile with the nearest centre',
    async (width, height, overlap) => {
      // The position model answers, for every pixel, its (row, col) inside the tile that produced it.
      const segmenter = await OnnxSegmenter.load(threads, POSITION_MODEL, positionSpec(overlap), {
        batchSize: 3,
        intraOpThreads: 1,
      });
      const mask = await segmenter.segment(makeRaster(width, height, [new Uint16Array(width * height)]));
      const xs = originsByRule(width, TILE, overlap);
      const ys = originsByRule(height, TILE, overlap);
      let wrong = 0;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const value = mask[y * width + x]!;
          const row = Math.floor(value / TILE);
          const col = value % TILE;
          if (y - row !== ownerOrigin(y, ys, TILE) || x - col !== ownerOrigin(x, xs, TILE)) wrong++;
        }
      }
      expect(wrong).toBe(0);
    },
  );

  // Identity model: logit c = normalized band c + BIAS[c] (see test/fixtures/make_tiny_model.py).
  const BIAS = [0, 0.25, -0.25];
  const identitySpec: ModelInputDataSpec = {
    bands: [
      { name: 'c', source_index: 4 },
      { name: 'a', source_index: 1 },
      { name: 'b' }, // position 3 -> band 3
    ],
    scaling: { scale: 0.5, offset: -10 },
    normalization: { mean: [3, 5, 7], std: [1.3, 0.7, 1.1] },
    tile_size: TILE,
    tile_overlap: 2,
    nodata: 0,
    classes: [
      { value: 10, name: 'first' },
      { value: 20, name: 'second' },
      { value: 30, name: 'third' },
    ],
    output_nodata: 200,
  };
  const width = 19;
  const height = 13;

  function identityRaster(): Raster {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const bands = Array.from({ length: 4 }, () => {
      const band = new Uint16Array(width * height);
      for (let i = 0; i < band.length; i++) band[i] = 1 + Math.floor(random() * 60);
      return band;
    });
    // a no-data block (all picked bands 0), a pixel with only some bands 0, and band 2 (unused) zero there too
    for (let y = 2; y < 5; y++) for (let x = 3; x < 7; x++) for (const b of [0, 2, 3]) bands[b]![y * width + x] = 0;
    bands[0]![10 * width + 10] = 0;
    bands[3]![10 * width + 10] = 0;
    return makeRaster(width, height, bands, null);
  }

  function expectedIdentity(raster: Raster): { mask: Uint8Array; minMargin: number } {
    const picks = [3, 0, 2];
    const mask = new Uint8Array(width * height);
    let minMargin = Infinity;
    for (let i = 0; i < mask.length; i++) {
      const dn = picks.map((b) => raster.bands[b]![i]!);
      if (dn.every((v) => v === 0)) {
        mask[i] = 200;
        continue;
      }
      const logits = dn.map(
        (v, c) =>
          ((v - 10) * 0.5 - identitySpec.normalization!.mean[c]!) / identitySpec.normalization!.std[c]! + BIAS[c]!,
      );
      const best = logits.indexOf(Math.max(...logits));
      const sorted = [...logits].sort((a, b) => b - a);
      minMargin = Math.min(minMargin, sorted[0]! - sorted[1]!);
      mask[i] = identitySpec.classes[best]!.value;
    }
    return { mask, minMargin };
  }

  it.each([1, 3, 16])('preprocesses, maps classes and handles no-data exactly (batch size %i)', async (batchSize) => {
    const raster = identityRaster();
    const { mask: expected, minMargin } = expectedIdentity(raster);
    expect(minMargin).toBeGreaterThan(1e-3); // no near ties, so float32 vs float64 cannot matter
    const segmenter = await OnnxSegmenter.load(threads, IDENTITY_MODEL, identitySpec, { batchSize, intraOpThreads: 1 });
    const progress: Array<[number, number]> = [];
    const mask = await segmenter.segment(raster, { onProgress: (done, total) => progress.push([done, total]) });
    expect(Array.from(mask)).toEqual(Array.from(expected));
    expect(mask.filter((v) => v === 200)).toHaveLength(12);
    expect(mask[10 * width + 10]).not.toBe(200);
    const tiles = planTiles(width, height, TILE, 2).length;
    expect(progress[0]).toEqual([0, tiles]);
    expect(progress[progress.length - 1]).toEqual([tiles, tiles]);
  });

  it('falls back to the file nodata when the spec has none', async () => {
    const raster = identityRaster();
    raster.nodata = 0;
    const segmenter = await OnnxSegmenter.load(
      threads,
      IDENTITY_MODEL,
      { ...identitySpec, nodata: undefined },
      { intraOpThreads: 1 },
    );
    const mask = await segmenter.segment(raster);
    expect(mask.filter((v) => v === 200)).toHaveLength(12);
  });

  it('stops when the signal is aborted', async () => {
    const segmenter = await OnnxSegmenter.load(threads, IDENTITY_MODEL, identitySpec, {
      batchSize: 1,
      intraOpThreads: 1,
    });
    const controller = new AbortController();
    const run = segmenter.segment(identityRaster(), {
      signal: controller.signal,
      onProgress: (done) => {
        if (done === 2) controller.abort(new Error('cancelled by test'));
      },
    });
    await expect(run).rejects.toThrow('cancelled by test');
  });

  it('rejects a spec that does not fit the model', async () => {
    await expect(OnnxSegmenter.load(threads, IDENTITY_MODEL, { ...identitySpec, tile_size: 16 })).rejects.toThrow(
      /model input is 8 x 8 pixels .* tile_size is 16/,
    );
    await expect(
      OnnxSegmenter.load(threads, IDENTITY_MODEL, { ...identitySpec, bands: [{ name: 'x' }, { name: 'y' }] }),
    ).rejects.toThrow(/takes 3 input channels .* declares 2 bands/);
    await expect(
      OnnxSegmenter.load(threads, IDENTITY_MODEL, { ...identitySpec, classes: identitySpec.classes.slice(0, 2) }),
    ).rejects.toThrow(/outputs 3 class channels .* declares 2 classes/);
  });

  it('rejects an input without the bands the spec picks', async () => {
    const segmenter = await OnnxSegmenter.load(threads, IDENTITY_MODEL, identitySpec, { intraOpThreads: 1 });
    const raster = identityRaster();
    await expect(segmenter.segment({ ...raster, bands: raster.bands.slice(0, 3), bandCount: 3 })).rejects.toThrow(
      /needs band 4 of the input, which has 3 band/,
    );
  });
});

describe('validateOnnxModel', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-spec-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('describes inputs and outputs', async () => {
    await expect(validateOnnxModel(IDENTITY_MODEL)).resolves.toEqual({
      inputs: [{ name: 'x', dims: ['N', 3, 8, 8], type: 'float32' }],
      outputs: [{ name: 'logits', dims: ['N', 3, 8, 8], type: 'float32' }],
    });
  });

  it('gives a readable reason for files that are not ONNX models', async () => {
    const garbage = path.join(tmp, 'garbage.onnx');
    fs.writeFileSync(garbage, 'this is not a protobuf at all, just text\n'.repeat(20));
    await expect(validateOnnxModel(garbage)).rejects.toThrow(/\S/);
    const empty = path.join(tmp, 'empty.onnx');
    fs.writeFileSync(empty, '');
    await expect(validateOnnxModel(empty)).rejects.toThrow('the model file is empty');
    await expect(validateOnnxModel(path.join(tmp, 'missing.onnx'))).rejects.toThrow('does not exist');
    const truncated = path.join(tmp, 'truncated.onnx');
    fs.writeFileSync(truncated, fs.readFileSync(POSITION_MODEL).subarray(0, 2000));
    await expect(validateOnnxModel(truncated)).rejects.toThrow(/\S/);
  });
});
