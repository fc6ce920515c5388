import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { runPython, validateCogs } from '../support/python';
import { tileRange } from '../support/tiles';
import { startTestStack, type TestStack } from '../support/stack';

/**
 * Regression and probabilities models end to end (issue 14 items 2, 3; issue 17 item 1): registered over the API
 * with small ONNX models built by test/fixtures/make_task_models.py, run on URL inputs on MinIO + PostgreSQL +
 * Temporal, then: the float32 output against numpy (2 x band 1 + 1, NaN nodata), chip_size on a dynamic model,
 * colormap tiles and the legend, COCO skipped, STAC raster:bands, and the probabilities COG (bands sum to 100).
 */
describe('model task types end to end', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  const suffix = Date.now();

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-task-types-'));
    await runPython('test/fixtures/make_task_models.py', [workDir]);
    await runPython('test/support/task_outputs.py', ['make_input', path.join(workDir, 'two.tif'), '2', '300', '280']);
    await runPython('test/support/task_outputs.py', ['make_input', path.join(workDir, 'three.tif'), '3', '300', '280']);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio' });
    api = new ApiClient(stack.baseUrl);
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    await fixtures?.close();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  const regressionSpec = {
    bands: [{ name: 'a' }, { name: 'b' }],
    tile_size: 64,
    tile_overlap: 8,
    task_type: 'regression',
    units: 'm',
    output_bands: ['height'],
    rescale: [0, 2001],
    colormap: 'magma',
  };

  it('refuses bad regression specs and chip sizes with 422 naming the field', async () => {
    const bad = await api.registerModel(
      {
        display_name: `bad-regression-${suffix}`,
        model_input_data_spec: { ...regressionSpec, probabilities: true },
      },
      path.join(workDir, 'regression.onnx'),
    );
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.body)).toMatch(/probabilities/);
    const claimed = await api.registerModel(
      {
        display_name: `fixed-regression-${suffix}`,
        model_input_data_spec: { ...regressionSpec, tile_size: 32, tile_overlap: 4, input_size: 'dynamic' },
      },
      path.join(workDir, 'regression_fixed.onnx'),
    );
    expect(claimed.status).toBe(422);
    expect(claimed.body.message).toMatch(/model_input_data_spec\.input_size/);
    const fixed = await api.registerModel(
      {
        display_name: `fixed-regression-${suffix}`,
        model_input_data_spec: { ...regressionSpec, tile_size: 32, tile_overlap: 4 },
      },
      path.join(workDir, 'regression_fixed.onnx'),
    );
    expect(fixed.status).toBe(201);
    expect(fixed.body.model_input_data_spec.input_size).toBe('fixed');
    const wrongChip = await api.post('/api/v2/inference', {
      model_id: fixed.body.id,
      spatial_domain: { urls: [fixtures.url('two.tif')] },
      temporal_domain: [],
      chip_size: 64,
    });
    expect(wrongChip.status).toBe(422);
    expect(wrongChip.body.message).toMatch(/^chip_size/);
  }, 120_000);

  it('runs a regression model with chip_size: float32 COG, colormap tiles, legend, COCO skipped, STAC bands', async () => {
    const registered = await api.registerModel(
      { display_name: `regression-${suffix}`, model_input_data_spec: regressionSpec },
      path.join(workDir, 'regression.onnx'),
    );
    expect(registered.status).toBe(201);
    expect(registered.body.model_input_data_spec).toMatchObject({ input_size: 'dynamic', classes: [] });
    const created = await api.post('/api/v2/inference', {
      model_id: registered.body.id,
      spatial_domain: { urls: [fixtures.url('two.tif')] },
      temporal_domain: [],
      chip_size: 128,
    });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    const finished = await api.waitForInference(id);
    expect(finished).toMatchObject({ status: 'COMPLETED', coco_url: null });
    const [task] = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks as Array<{
      task_id: string;
      outputs: Record<string, any>;
      tile_url_template: string;
    }>;
    const model = task!.outputs['model-inference'];
    expect(model).toMatchObject({ task_type: 'regression', chip_size: 128, tiles: 9, class_pixel_counts: {} });
    expect(model.value_stats[0]).toMatchObject({ band: 'height', units: 'm', valid_pixels: 300 * 280 - 35 });

    // The output, downloaded as a user would, against numpy.
    const signed = await api.get(`/api/v2/tasks/${task!.task_id}/output-url`);
    const outputFile = path.join(workDir, 'regression-output.tif');
    fs.writeFileSync(outputFile, Buffer.from(await (await fetch(signed.body.url)).arrayBuffer()));
    const check = JSON.parse(
      (
        await runPython('test/support/task_outputs.py', ['check_regression', path.join(workDir, 'two.tif'), outputFile])
      ).trim(),
    );
    expect(check).toMatchObject({ dtype: 'float32', nodata_is_nan: true, nan_matches: true, same_grid: true });
    expect(check.max_abs_diff).toBeLessThan(1e-3);
    expect((await validateCogs([outputFile]))[outputFile]!.errors).toEqual([]);

    // COCO: nothing to export, and no COCO file.
    expect((await api.get(`/api/v2/inference/${id}/coco`)).status).toBe(404);

    // Legend (tile token) and a colormap tile.
    const template = task!.tile_url_template;
    const token = new URL(template.replace('{z}/{x}/{y}', '0/0/0')).searchParams.get('token')!;
    const legendBase = `${stack.baseUrl}/tiles/${task!.task_id}/legend`;
    expect((await fetch(`${legendBase}.json`)).status).toBe(403);
    const legend = (await (await fetch(`${legendBase}.json?token=${token}`)).json()) as any;
    expect(legend).toMatchObject({ type: 'colorbar', colormap: 'magma', min: 0, max: 2001, units: 'm', nodata: 'NaN' });
    expect(legend.stops[0]).toEqual({ value: 0, color: '#000004' });
    const legendPng = await fetch(`${legendBase}.png?token=${token}`);
    expect(legendPng.headers.get('content-type')).toBe('image/png');
    const bar = Buffer.from(await legendPng.arrayBuffer());
    // IHDR: width and height of the colorbar.
    expect([bar.readUInt32BE(16), bar.readUInt32BE(20)]).toEqual([256, 20]);

    const item = (await api.get(`/api/v2/inference/${id}/stac/items/${task!.task_id}`)).body;
    expect(item.assets.prediction['raster:bands']).toEqual([
      expect.objectContaining({ name: 'height', data_type: 'float32', nodata: 'nan', unit: 'm', scale: 1, offset: 0 }),
    ]);
    expect(item.assets.prediction['classification:classes']).toBeUndefined();
    expect(item.assets.coco).toBeUndefined();
    const [west, south, east, north] = item.bbox as number[];
    const centre = tileRange(
      [(west! + east!) / 2, (south! + north!) / 2, (west! + east!) / 2, (south! + north!) / 2],
      16,
    );
    const tile = await fetch(
      template.replace('{z}', '16').replace('{x}', String(centre.x0)).replace('{y}', String(centre.y0)),
    );
    expect(tile.status).toBe(200);
    // Read from the raster (level >= 0, not the transparent empty tile) and coloured: a palette PNG with content.
    expect(Number(tile.headers.get('x-tile-source-level'))).toBeGreaterThanOrEqual(0);
    expect((await tile.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  }, 300_000);

  it('writes class probabilities beside the mask and lists them in STAC', async () => {
    const registered = await api.registerModel(
      {
        display_name: `probabilities-${suffix}`,
        model_input_data_spec: {
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
        },
      },
      path.join(workDir, 'probabilities.onnx'),
    );
    expect(registered.status).toBe(201);
    const created = await api.post('/api/v2/inference', {
      model_id: registered.body.id,
      spatial_domain: { urls: [fixtures.url('three.tif')] },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    expect(await api.waitForInference(id)).toMatchObject({ status: 'COMPLETED' });
    const [task] = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks as Array<{
      task_id: string;
      outputs: Record<string, any>;
    }>;
    expect(task!.outputs['model-inference'].probabilities_key).toMatch(/probabilities\.tif$/);
    const item = (await api.get(`/api/v2/inference/${id}/stac/items/${task!.task_id}`)).body;
    expect(item.assets.probabilities['raster:bands']).toHaveLength(3);
    expect(item.assets.probabilities['raster:bands'][0]).toMatchObject({
      name: 'one',
      data_type: 'uint8',
      unit: 'percent',
    });
    const file = path.join(workDir, 'probabilities.tif');
    fs.writeFileSync(file, Buffer.from(await (await fetch(item.assets.probabilities.href)).arrayBuffer()));
    const check = JSON.parse(
      (
        await runPython('test/support/task_outputs.py', ['check_probabilities', path.join(workDir, 'three.tif'), file])
      ).trim(),
    );
    expect(check).toMatchObject({ dtype: 'uint8', count: 3, sum_min: 100, sum_max: 100, nodata_all_255: true });
    expect(check.max_abs_diff).toBeLessThanOrEqual(1);
  }, 300_000);
});
