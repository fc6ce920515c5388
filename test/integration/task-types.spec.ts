// geotiff.js requires the ESM-only `quick-lru` (remote reads only), which Jest's CommonJS runtime cannot load.
jest.mock('quick-lru', () => ({ __esModule: true, default: class extends Map {} }));

import '../fixtures/jest-native-realm';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';
import { readGeoTiff } from '../../src/geo/raster/decode';
import { ModelThreadPool } from '../../src/geo/model/model-thread';
import { OnnxSegmenter, validateOnnxModel } from '../../src/geo/model/segmentation';
import { probabilitiesToPercent } from '../../src/geo/model/continuous';
import { writeContinuousCog } from '../../src/geo/raster/continuous-cog';
import { checkOutputKindAgainstGraph } from '../../src/api/models/output-kind-check';
import { checkGoldenPair } from '../../src/api/models/golden-pair';
import { ApiError } from '../../src/api/http/api-error';
import { runPython, validateCogs } from '../support/python';
import { pythonBin } from '../support/services';

/**
 * Regression and probabilities outputs (issue 14 item 2) and dynamic input sizes (item 3) with small ONNX models
 * built by test/fixtures/make_task_models.py: the model thread's values and the COGs written from them are
 * compared against numpy on the same input (test/support/task_outputs.py), and checked with GDAL's COG validator.
 */
describe('model task types: regression, probabilities, dynamic input size', () => {
  const threads = new ModelThreadPool(1);
  let tmp: string;
  const regressionSpec: ModelInputDataSpec = {
    bands: [{ name: 'a' }, { name: 'b' }],
    tile_size: 64,
    tile_overlap: 8,
    classes: [],
    task_type: 'regression',
    units: 'm',
    output_bands: ['height'],
    input_size: 'dynamic',
  };
  const probabilitiesSpec: ModelInputDataSpec = {
    bands: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
    scaling: { scale: 0.01, offset: 0 },
    tile_size: 64,
    tile_overlap: 8,
    classes: [
      { value: 1, name: 'one' },
      { value: 2, name: 'two' },
      { value: 3, name: 'three' },
    ],
    probabilities: true,
    input_size: 'dynamic',
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'task-types-'));
    await runPython('test/fixtures/make_task_models.py', [tmp]);
    await runPython('test/support/task_outputs.py', ['make_input', path.join(tmp, 'two.tif'), '2', '300', '280']);
    await runPython('test/support/task_outputs.py', ['make_input', path.join(tmp, 'three.tif'), '3', '300', '280']);
  }, 120_000);
  afterAll(async () => {
    await threads.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function regressionCog(spec: ModelInputDataSpec, name: string) {
    const raster = await readGeoTiff(path.join(tmp, 'two.tif'));
    const segmenter = await OnnxSegmenter.load(threads, path.join(tmp, 'regression.onnx'), spec);
    const outcome = await segmenter.segmentDetailed(raster);
    expect(outcome.channels).toBe(1);
    expect(outcome.mask.length).toBe(0);
    const outFile = path.join(tmp, name);
    await writeContinuousCog({
      pythonBin: pythonBin(),
      templateFile: path.join(tmp, 'two.tif'),
      values: outcome.values!,
      bands: 1,
      nodata: Number.NaN,
      outFile,
      descriptions: ['height'],
      units: 'm',
    });
    return { outFile, tiles: segmenter.plan(raster.width, raster.height).length, values: outcome.values! };
  }

  it('writes a regression output (2 x band 1 + 1) as a float32 COG with NaN nodata and averaged overviews', async () => {
    const { outFile } = await regressionCog(regressionSpec, 'regression.tif');
    const check = JSON.parse(
      (
        await runPython('test/support/task_outputs.py', ['check_regression', path.join(tmp, 'two.tif'), outFile])
      ).trim(),
    );
    expect(check).toMatchObject({
      dtype: 'float32',
      count: 1,
      nodata_is_nan: true,
      same_grid: true,
      nan_matches: true,
      descriptions: ['height'],
      units: ['m'],
      overview_in_range: true,
      overview_not_nearest_only: true,
    });
    expect(check.max_abs_diff).toBeLessThan(1e-3);
    expect(check.overviews).toEqual([2]);
    const validation = await validateCogs([outFile]);
    expect(validation[outFile]!.errors).toEqual([]);
  }, 120_000);

  it('applies output_scale / output_offset and a numeric output_nodata', async () => {
    const raster = await readGeoTiff(path.join(tmp, 'two.tif'));
    const spec = { ...regressionSpec, output_scale: 0.5, output_offset: -1, output_nodata: -9999 };
    const segmenter = await OnnxSegmenter.load(threads, path.join(tmp, 'regression.onnx'), spec);
    const { values } = await segmenter.segmentDetailed(raster);
    const band = raster.bands[0]!;
    // (2 v + 1) * 0.5 - 1 = v - 0.5; the nodata block (row < 5, col < 7) is -9999.
    expect(values![0]).toBe(-9999);
    const at = 100 * raster.width + 100;
    expect(values![at]).toBeCloseTo(band[at]! - 0.5, 3);
  }, 60_000);

  it('runs a dynamic-H/W model on any chip size with the same values', async () => {
    const base = await regressionCog(regressionSpec, 'chip64.tif');
    const small = await regressionCog({ ...regressionSpec, tile_size: 32, tile_overlap: 4 }, 'chip32.tif');
    const large = await regressionCog({ ...regressionSpec, tile_size: 128, tile_overlap: 0 }, 'chip128.tif');
    expect(small.tiles).toBeGreaterThan(base.tiles);
    expect(large.tiles).toBeLessThan(base.tiles);
    for (const other of [small, large]) {
      let worst = 0;
      for (let i = 0; i < base.values.length; i++) {
        const [a, b] = [base.values[i]!, other.values[i]!];
        if (Number.isNaN(a) || Number.isNaN(b)) expect(Number.isNaN(a) && Number.isNaN(b)).toBe(true);
        else worst = Math.max(worst, Math.abs(a - b));
      }
      expect(worst).toBeLessThan(1e-3);
    }
  }, 120_000);

  it('writes class probabilities (uint8 percent) whose bands sum to 100, beside the unchanged class mask', async () => {
    const raster = await readGeoTiff(path.join(tmp, 'three.tif'));
    const segmenter = await OnnxSegmenter.load(threads, path.join(tmp, 'probabilities.onnx'), probabilitiesSpec);
    const outcome = await segmenter.segmentDetailed(raster);
    const plain = await (
      await OnnxSegmenter.load(threads, path.join(tmp, 'probabilities.onnx'), {
        ...probabilitiesSpec,
        probabilities: false,
      })
    ).segment(raster);
    expect(Buffer.from(outcome.mask).equals(Buffer.from(plain))).toBe(true);
    expect(outcome.channels).toBe(3);
    const pixels = raster.width * raster.height;
    const invalid = Uint8Array.from({ length: pixels }, (_, i) => (Number.isNaN(outcome.values![i]!) ? 1 : 0));
    const percent = probabilitiesToPercent(outcome.values!, pixels, 3, invalid);
    const outFile = path.join(tmp, 'probabilities.tif');
    await writeContinuousCog({
      pythonBin: pythonBin(),
      templateFile: path.join(tmp, 'three.tif'),
      values: percent,
      bands: 3,
      nodata: 255,
      outFile,
    });
    const check = JSON.parse(
      (
        await runPython('test/support/task_outputs.py', ['check_probabilities', path.join(tmp, 'three.tif'), outFile])
      ).trim(),
    );
    expect(check).toMatchObject({
      dtype: 'uint8',
      count: 3,
      nodata: 255,
      sum_min: 100,
      sum_max: 100,
      nodata_all_255: true,
    });
    // Rounding to whole percent (plus the largest-remainder point): at most 1 off numpy's softmax.
    expect(check.max_abs_diff).toBeLessThanOrEqual(1);
    const validation = await validateCogs([outFile]);
    expect(validation[outFile]!.errors).toEqual([]);
  }, 120_000);

  it('compares every band of a multi-band regression golden pair (422 naming golden_output on a band 2 drift)', async () => {
    const spec: ModelInputDataSpec = { ...regressionSpec, output_bands: ['height', 'cover'] };
    const model = path.join(tmp, 'regression_two.onnx');
    const input = path.join(tmp, 'two.tif');
    const file = (name: string) => ({ path: name, size: fs.statSync(name).size });
    const expected = path.join(tmp, 'golden-two.tif');
    await runPython('test/support/task_outputs.py', ['make_expected_two', expected, input]);
    const limits = { tolerance: 1e-3, max_differing_pixels: 0 };
    const accepted = await checkGoldenPair(model, spec, { input: file(input), expectedOutput: file(expected) }, limits);
    expect(accepted).toMatchObject({ differing_pixels: 0, pixels: 300 * 280 });
    expect(accepted.max_difference).toBeLessThan(1e-3);

    // Band 1 exact, band 2 off by 1 at 7 pixels: refused, and those 7 pixels counted.
    const drifted = path.join(tmp, 'golden-two-drifted.tif');
    await runPython('test/support/task_outputs.py', ['make_expected_two', drifted, input, '7']);
    const refusal = await checkGoldenPair(
      model,
      spec,
      { input: file(input), expectedOutput: file(drifted) },
      limits,
    ).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(ApiError);
    expect((refusal as ApiError).getStatus()).toBe(422);
    expect((refusal as ApiError).message).toMatch(/^golden_output: .* at 7 of 84000 pixels/);
    expect(
      await checkGoldenPair(
        model,
        spec,
        { input: file(input), expectedOutput: file(drifted) },
        { ...limits, max_differing_pixels: 7 },
      ),
    ).toMatchObject({ differing_pixels: 7 });

    // One expected band for two output channels: refused naming golden_output.
    const oneBand = await checkGoldenPair(
      path.join(tmp, 'regression_two.onnx'),
      spec,
      { input: file(input), expectedOutput: file(path.join(tmp, 'regression.tif')) },
      limits,
    ).catch((error: unknown) => error);
    expect((oneBand as ApiError).message).toMatch(/^golden_output: 1 band\(s\), but the model writes 2 output channel/);
  }, 120_000);

  it('infers input_size from the graph and refuses a fixed graph claimed dynamic (422 naming the field)', async () => {
    const graphOf = async (file: string) => {
      const signature = await validateOnnxModel(path.join(tmp, file));
      return {
        inputDims: signature.inputs[0]!.dims,
        outputDims: signature.outputs[0]!.dims,
        outputType: signature.outputs[0]!.type,
      };
    };
    const dynamicSpec: ModelInputDataSpec = { ...regressionSpec, input_size: undefined };
    checkOutputKindAgainstGraph(dynamicSpec, await graphOf('regression.onnx'));
    expect(dynamicSpec.input_size).toBe('dynamic');
    const fixedSpec: ModelInputDataSpec = { ...regressionSpec, tile_size: 32, input_size: undefined };
    checkOutputKindAgainstGraph(fixedSpec, await graphOf('regression_fixed.onnx'));
    expect(fixedSpec.input_size).toBe('fixed');
    let refused: unknown;
    try {
      checkOutputKindAgainstGraph({ ...regressionSpec, tile_size: 32 }, await graphOf('regression_fixed.onnx'));
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).getStatus()).toBe(422);
    expect((refused as ApiError).message).toMatch(/model_input_data_spec\.input_size/);
    let wrongBands: unknown;
    try {
      checkOutputKindAgainstGraph(
        { ...regressionSpec, input_size: undefined, output_bands: ['a', 'b'] },
        await graphOf('regression_fixed.onnx'),
      );
    } catch (error) {
      wrongBands = error;
    }
    expect((wrongBands as ApiError).message).toMatch(/output_bands/);
  }, 60_000);
});
