// geotiff.js requires the ESM-only `quick-lru` (remote reads only), which Jest's CommonJS runtime cannot load.
jest.mock('quick-lru', () => ({ __esModule: true, default: class extends Map {} }));

import '../fixtures/jest-native-realm';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { maskNodata, type ModelInputDataSpec } from '../../workflows/contract/model-spec';
import { readGeoTiff } from '../../src/geo/raster/decode';
import { writeMaskGeoTiff } from '../../src/geo/raster/mask-geotiff';
import { ModelThreadPool } from '../../src/geo/model/model-thread';
import { OnnxSegmenter } from '../../src/geo/model/segmentation';

/**
 * Our OnnxSegmenter against python/reference_inference.py (numpy + onnxruntime + rasterio, written
 * independently from the same tiling rule) on the bundled synthetic Sentinel-2 scene with the real
 * ukis-csmask cloud model. Needs PYTHON_BIN (numpy, rasterio, onnxruntime) and DEMO_MODEL_PATH.
 */
const ROOT = path.join(__dirname, '..', '..');
const PYTHON = process.env.PYTHON_BIN || 'python3';
const MODEL = process.env.DEMO_MODEL_PATH;
const SPEC: ModelInputDataSpec = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'csmask-6b-l2a.spec.json'), 'utf8'),
);

function python(args: string[]): string {
  return execFileSync(PYTHON, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const POSITION_MODEL = path.join(ROOT, 'test', 'fixtures', 'tiny_position.onnx');

describe('inference against the independent Python reference', () => {
  const threads = new ModelThreadPool(1);
  let tmp: string;
  beforeAll(() => {
    if (!MODEL || !fs.existsSync(MODEL))
      throw new Error(`DEMO_MODEL_PATH must point to ukis-csmask's model_6b_l2a.onnx (got ${MODEL ?? 'nothing'})`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inference-reference-'));
  });
  afterAll(async () => {
    await threads.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('blends overlapping tiles exactly as the numpy reference does, pixel for pixel, for every tile_blending', async () => {
    // tiny_position.onnx: logit c is 100 at tile pixel c (row * 8 + col), else 0. The class of a pixel says which
    // tile position won it, so any difference in the weights, the tile order or the band handling shows.
    const input = path.join(tmp, 'position.tif');
    python([
      '-c',
      [
        'import sys, numpy as np, rasterio',
        'from rasterio.transform import from_origin',
        'data = np.random.default_rng(3).integers(1, 1000, size=(1, 29, 37)).astype("uint16")',
        'profile = dict(driver="GTiff", width=37, height=29, count=1, dtype="uint16", crs="EPSG:32633", transform=from_origin(600000, 5370000, 10, 10))',
        'with rasterio.open(sys.argv[1], "w", **profile) as dst: dst.write(data)',
      ].join('\n'),
      input,
    ]);
    const raster = await readGeoTiff(input);
    const masks: Record<string, Uint8Array> = {};
    for (const blending of ['center', 'linear', 'cosine', undefined] as const) {
      const spec: ModelInputDataSpec = {
        bands: [{ name: 'any' }],
        tile_size: 8,
        tile_overlap: 3,
        classes: Array.from({ length: 64 }, (_, value) => ({ value, name: `position ${value}` })),
        ...(blending ? { tile_blending: blending } : {}),
      };
      const segmenter = await OnnxSegmenter.load(threads, POSITION_MODEL, spec, { batchSize: 5 });
      const mask = await segmenter.segment(raster);
      const specFile = path.join(tmp, `position-${blending ?? 'default'}.json`);
      fs.writeFileSync(specFile, JSON.stringify(spec));
      const reference = path.join(tmp, `position-${blending ?? 'default'}.tif`);
      python([path.join('python', 'reference_inference.py'), input, POSITION_MODEL, specFile, reference]);
      const expected = (await readGeoTiff(reference)).bands[0]!;
      expect([blending, Array.from(mask)]).toEqual([blending, Array.from(expected)]);
      masks[blending ?? 'default'] = mask;
    }
    // The default is cosine; blending changes which tile wins near tile borders, the centre rule does not blend.
    expect(Array.from(masks.default!)).toEqual(Array.from(masks.cosine!));
    const changed = masks.center!.filter((value, i) => value !== masks.cosine![i]).length;
    expect(changed).toBeGreaterThan(0);
  });

  it('produces the same mask as reference_inference.py, on the input grid', async () => {
    const input = path.join(tmp, 'sample.tif');
    python([path.join('python', 'make_sample_geotiff.py'), input, '--size', '512', '--seed', '7']);

    const raster = await readGeoTiff(input);
    expect(raster).toMatchObject({ width: 512, height: 512, bandCount: 6, dataType: 'uint16', nodata: 0 });
    const segmenter = await OnnxSegmenter.load(threads, MODEL!, SPEC, { batchSize: 4 });
    let progress = [0, 0];
    const mask = await segmenter.segment(raster, { onProgress: (done, total) => (progress = [done, total]) });
    expect(progress).toEqual([9, 9]);
    const ours = path.join(tmp, 'ours.tif');
    await writeMaskGeoTiff(ours, mask, raster.width, raster.height, raster.georef, {
      nodata: maskNodata(SPEC),
    });

    const specFile = path.join(tmp, 'spec.json');
    fs.writeFileSync(specFile, JSON.stringify(SPEC));
    const reference = path.join(tmp, 'reference.tif');
    python([path.join('python', 'reference_inference.py'), input, MODEL!, specFile, reference]);
    const expected = (await readGeoTiff(reference)).bands[0]!;

    let differences = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] !== expected[i]) differences++;
    const counts: Record<number, number> = {};
    for (const value of mask) counts[value] = (counts[value] ?? 0) + 1;
    // eslint-disable-next-line no-console
    console.log(
      `mask differences vs reference: ${differences} of ${mask.length} pixels; class counts ${JSON.stringify(counts)}`,
    );
    expect(differences / mask.length).toBeLessThanOrEqual(1e-4);
    // The sample is meant to show clouds: a non-trivial share of cloud pixels, and no-data in its corner.
    expect((counts[1] ?? 0) / mask.length).toBeGreaterThan(0.05);
    expect((counts[1] ?? 0) / mask.length).toBeLessThan(0.4);
    expect(counts[255] ?? 0).toBeGreaterThan(0);

    // GDAL (through rasterio) reads our output with the input's CRS and transform.
    const check = python([
      '-c',
      [
        'import json, sys, rasterio',
        'a = rasterio.open(sys.argv[1]); b = rasterio.open(sys.argv[2])',
        'print(json.dumps({"same_crs": a.crs == b.crs, "epsg": b.crs.to_epsg(), "transform_in": list(a.transform)[:6], "transform_out": list(b.transform)[:6],',
        '  "shape": [b.count, b.height, b.width], "dtype": b.dtypes[0], "nodata": b.nodata}))',
      ].join('\n'),
      input,
      ours,
    ]);
    const info = JSON.parse(check.trim().split('\n').pop()!);
    expect(info).toEqual({
      same_crs: true,
      epsg: 32633,
      transform_in: info.transform_in,
      transform_out: info.transform_in,
      shape: [1, 512, 512],
      dtype: 'uint8',
      nodata: 255,
    });
    expect(info.transform_in).toEqual([20, 0, 600000, 0, -20, 5370000]);
  });
});
