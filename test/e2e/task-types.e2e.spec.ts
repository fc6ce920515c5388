import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { runPython, validateCogs } from '../support/python';
import { tileRange } from '../support/tiles';
import { startTestStack, type TestStack } from '../support/stack';
import { storageKeys } from '../../src/platform/storage/keys';

/**
 * Regression and probabilities models end to end (issue 14 items 2, 3; issue 17 item 1): registered over the API
 * with small ONNX models built by test/fixtures/make_task_models.py, run on URL inputs on MinIO + PostgreSQL +
 * Temporal, then: the float32 output against numpy (2 x band 1 + 1, NaN nodata), chip_size on a dynamic model,
 * colormap tiles and the legend, COCO skipped, STAC raster:bands and mlm fields (test/support/validate_stac.py),
 * the probabilities COG (uint8 bands sum to 100, float32 to 1), a two-band model's tiles and legends per `band`,
 * a generic processor on the float raster, and permanent_water_masking writing NaN into the values.
 */
describe('model task types end to end', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let waterPath: string;
  const suffix = Date.now();
  /** The regression model's tile at the centre of its output (z 16), to compare a processed output's with. */
  let plainTile: { url: (template: string) => string; png: Buffer } | undefined;

  type TaskView = { task_id: string; outputs: Record<string, any>; tile_url_template: string };
  async function runToCompletion(body: Record<string, unknown>): Promise<{ id: string; task: TaskView }> {
    const created = await api.post('/api/v2/inference', body);
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    expect(await api.waitForInference(id)).toMatchObject({ status: 'COMPLETED' });
    const [task] = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks as TaskView[];
    return { id, task: task! };
  }
  async function download(url: string, name: string): Promise<string> {
    const file = path.join(workDir, name);
    fs.writeFileSync(file, Buffer.from(await (await fetch(url)).arrayBuffer()));
    return file;
  }
  async function pythonJson(args: string[]): Promise<any> {
    return JSON.parse((await runPython('test/support/task_outputs.py', args)).trim().split('\n').pop()!);
  }
  /** The tile URL of z 16 at the centre of a task's STAC bbox. */
  function centreTile(template: string, bbox: number[]): string {
    const [west, south, east, north] = bbox;
    const centre = tileRange(
      [(west! + east!) / 2, (south! + north!) / 2, (west! + east!) / 2, (south! + north!) / 2],
      16,
    );
    return template.replace('{z}', '16').replace('{x}', String(centre.x0)).replace('{y}', String(centre.y0));
  }

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-task-types-'));
    await runPython('test/fixtures/make_task_models.py', [workDir]);
    await runPython('test/support/task_outputs.py', ['make_input', path.join(workDir, 'two.tif'), '2', '300', '280']);
    await runPython('test/support/task_outputs.py', ['make_input', path.join(workDir, 'three.tif'), '3', '300', '280']);
    // The permanent-water reference (outside the served folder): water in the right third of two.tif's grid.
    waterPath = `${workDir}-water.tif`;
    await runPython('test/support/task_outputs.py', ['make_water', waterPath, path.join(workDir, 'two.tif')]);
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio', env: { PERMANENT_WATER_MASK_PATH: waterPath } });
    api = new ApiClient(stack.baseUrl);
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    await fixtures?.close();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    if (waterPath) fs.rmSync(waterPath, { force: true });
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
    const png = Buffer.from(await tile.arrayBuffer());
    expect(png.byteLength).toBeGreaterThan(1000);
    plainTile = { url: (other) => centreTile(other, item.bbox as number[]), png };
    // One band: band 1 is the default, others are a 400 naming band (tiles and legend).
    const tileUrl = centreTile(template, item.bbox as number[]);
    expect(Buffer.from(await (await fetch(`${tileUrl}&band=1`)).arrayBuffer()).equals(png)).toBe(true);
    for (const band of ['2', '0', 'x']) {
      const refused = await fetch(`${tileUrl}&band=${band}`);
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { message: string }).message).toMatch(/^band: /);
      const legendRefused = await fetch(`${legendBase}.json?token=${token}&band=${band}`);
      expect(legendRefused.status).toBe(400);
      expect(((await legendRefused.json()) as { message: string }).message).toMatch(/^band: /);
    }

    // The static catalog in storage validates offline, mlm:tasks and mlm:output saying regression (float32).
    const prefix = `inferences/${id}/`;
    const catalog = path.join(workDir, 'catalog-regression');
    for (const object of await stack.store.list(prefix))
      await stack.store.downloadToFile(object.key, path.join(catalog, object.key.slice(prefix.length)));
    const stored = JSON.parse(fs.readFileSync(path.join(catalog, task!.task_id, 'item.json'), 'utf8'));
    expect(stored.properties['mlm:tasks']).toEqual(['regression']);
    expect(stored.properties['mlm:output']).toEqual([
      expect.objectContaining({
        tasks: ['regression'],
        result: expect.objectContaining({ shape: [-1, 1, 280, 300], data_type: 'float32' }),
      }),
    ]);
    expect(stored.properties['mlm:output'][0]['classification:classes']).toBeUndefined();
    expect(item.properties['mlm:tasks']).toEqual(['regression']);
    const report = JSON.parse(
      (await runPython('test/support/validate_stac.py', [path.join(catalog, 'collection.json')]))
        .trim()
        .split('\n')
        .pop()!,
    );
    expect(report.problems).toEqual([]);
    expect(report.items).toBe(1);
  }, 300_000);

  it('draws each band of a two-band regression output with its own range and legend (band parameter)', async () => {
    const registered = await api.registerModel(
      {
        display_name: `regression-two-${suffix}`,
        model_input_data_spec: { ...regressionSpec, output_bands: ['height', 'cover'], rescale: undefined },
      },
      path.join(workDir, 'regression_two.onnx'),
    );
    expect(registered.status).toBe(201);
    const { id, task } = await runToCompletion({
      model_id: registered.body.id,
      spatial_domain: { urls: [fixtures.url('two.tif')] },
      temporal_domain: [],
    });
    const stats = task.outputs['model-inference'].value_stats as Array<{ band: string; min: number; max: number }>;
    expect(stats.map((entry) => entry.band)).toEqual(['height', 'cover']);
    const signed = await api.get(`/api/v2/tasks/${task.task_id}/output-url`);
    const check = await pythonJson([
      'check_regression_two',
      path.join(workDir, 'two.tif'),
      await download(signed.body.url, 'regression-two.tif'),
    ]);
    expect(check).toMatchObject({ dtype: 'float32', count: 2, nan_matches: true, descriptions: ['height', 'cover'] });
    expect(Math.max(...(check.max_abs_diff as number[]))).toBeLessThan(1e-3);

    const token = new URL(task.tile_url_template.replace('{z}/{x}/{y}', '0/0/0')).searchParams.get('token')!;
    const legendBase = `${stack.baseUrl}/tiles/${task.task_id}/legend.json?token=${token}`;
    // Without rescale each band's colorbar spans its own values (band 1 the default).
    for (const [query, band] of [
      ['', 0],
      ['&band=1', 0],
      ['&band=2', 1],
    ] as const) {
      const legend = (await (await fetch(`${legendBase}${query}`)).json()) as { min: number; max: number };
      expect(legend).toMatchObject({ min: stats[band]!.min, max: stats[band]!.max });
    }
    const item = (await api.get(`/api/v2/inference/${id}/stac/items/${task.task_id}`)).body;
    expect(item.properties['mlm:output'][0].result.shape).toEqual([-1, 2, 280, 300]);
    const tileUrl = centreTile(task.tile_url_template, item.bbox as number[]);
    const first = await fetch(`${tileUrl}&band=1`);
    const second = await fetch(`${tileUrl}&band=2`);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(Number(second.headers.get('x-tile-source-level'))).toBeGreaterThanOrEqual(0);
    const [firstPng, secondPng] = [Buffer.from(await first.arrayBuffer()), Buffer.from(await second.arrayBuffer())];
    expect(secondPng.byteLength).toBeGreaterThan(1000);
    expect(firstPng.equals(secondPng)).toBe(false);
    expect(Buffer.from(await (await fetch(tileUrl)).arrayBuffer()).equals(firstPng)).toBe(true);
    const third = await fetch(`${tileUrl}&band=3`);
    expect(third.status).toBe(400);
    expect(await third.json()).toMatchObject({ message: expect.stringMatching(/^band: 3 .*\(1-2\)/) });
  }, 300_000);

  it('hands the float raster to a generic processor and publishes its processed float output', async () => {
    const registered = await api.registerModel(
      { display_name: `regression-processed-${suffix}`, model_input_data_spec: regressionSpec },
      path.join(workDir, 'regression.onnx'),
    );
    expect(registered.status).toBe(201);
    const processor = await api.uploadProcessor(
      { name: 'scale_values', description: 'doubles the values', processor_parameters: { factor: 2 } },
      fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'processors', 'scale_values.py')),
      'scale_values.py',
    );
    expect(processor.status).toBe(201);
    const { id, task } = await runToCompletion({
      model_id: registered.body.id,
      spatial_domain: { urls: [fixtures.url('two.tif')] },
      temporal_domain: [],
      generic_processor_id: processor.body.id,
    });
    // The processor saw the float32 values and NaN nodata.
    expect(task.outputs['generic-python-processor']).toMatchObject({
      exit_code: 0,
      result: { input_dtype: 'float32', bands: 1, valid_values: 300 * 280 - 35, nodata: 'nan' },
    });
    expect(task.outputs['push-to-geoserver'].raster_key).toBe(storageKeys.processorOutput(id, task.task_id));
    // What is published is the processed float raster: 2 x (2 x band 1 + 1).
    const signed = await api.get(`/api/v2/tasks/${task.task_id}/output-url`);
    const processed = await download(signed.body.url, 'regression-processed.tif');
    const check = await pythonJson(['check_regression', path.join(workDir, 'two.tif'), processed, '--factor', '2']);
    expect(check).toMatchObject({ dtype: 'float32', nodata_is_nan: true, nan_matches: true, same_grid: true });
    expect(check.max_abs_diff).toBeLessThan(1e-3);
    // Its overviews average the values (a float output), as the model's own float COG does.
    expect(check.overviews).toEqual([2]);
    expect(check).toMatchObject({ overview_in_range: true, overview_not_nearest_only: true });
    expect((await validateCogs([processed]))[processed]!.errors).toEqual([]);
    // The tiles draw it: the same place as the unprocessed output's tile, other colours.
    expect(plainTile).toBeDefined();
    const tile = await fetch(plainTile!.url(task.tile_url_template));
    expect(tile.status).toBe(200);
    expect(Number(tile.headers.get('x-tile-source-level'))).toBeGreaterThanOrEqual(0);
    expect(Buffer.from(await tile.arrayBuffer()).equals(plainTile!.png)).toBe(false);
  }, 300_000);

  it('writes the output nodata (NaN, or the value) into the float raster where post_processing masks', async () => {
    for (const output_nodata of ['NaN', -9999] as const) {
      const registered = await api.registerModel(
        {
          display_name: `regression-water-${output_nodata}-${suffix}`,
          model_input_data_spec: { ...regressionSpec, output_nodata },
        },
        path.join(workDir, 'regression.onnx'),
      );
      expect(registered.status).toBe(201);
      const { task } = await runToCompletion({
        model_id: registered.body.id,
        spatial_domain: { urls: [fixtures.url('two.tif')] },
        temporal_domain: [],
        post_processing: { permanent_water_masking: true },
      });
      const signed = await api.get(`/api/v2/tasks/${task.task_id}/output-url`);
      const file = await download(signed.body.url, `regression-water-${output_nodata}.tif`);
      const model = task.outputs['model-inference'];
      if (output_nodata === 'NaN') {
        const check = await pythonJson(['check_regression', path.join(workDir, 'two.tif'), file, '--water', waterPath]);
        expect(check).toMatchObject({ dtype: 'float32', nodata_is_nan: true, nan_matches: true });
        expect(check.water_pixels).toBeGreaterThan(0);
        expect(check.max_abs_diff).toBeLessThan(1e-3);
        expect(model.post_processing).toEqual({ permanent_water_masking: check.water_pixels });
        expect(model.value_stats[0].valid_pixels).toBe(300 * 280 - 35 - check.water_pixels);
      } else {
        // A numeric nodata: masked pixels hold exactly that value, not a class value.
        const values = await pythonJson(['nodata_counts', file, String(output_nodata), waterPath]);
        expect(values).toMatchObject({ nodata: -9999, water_not_nodata: 0 });
        expect(values.nodata_pixels).toBe(35 + model.post_processing.permanent_water_masking);
        expect(model.value_stats[0].valid_pixels).toBe(300 * 280 - values.nodata_pixels);
      }
    }
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

  it('writes float32 probabilities (0-1, NaN nodata) whose bands sum to 1', async () => {
    const registered = await api.registerModel(
      {
        display_name: `probabilities-float-${suffix}`,
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
          probabilities: 'float32',
        },
      },
      path.join(workDir, 'probabilities.onnx'),
    );
    expect(registered.status).toBe(201);
    const { id, task } = await runToCompletion({
      model_id: registered.body.id,
      spatial_domain: { urls: [fixtures.url('three.tif')] },
      temporal_domain: [],
    });
    expect(task.outputs['model-inference'].probabilities_key).toMatch(/probabilities\.tif$/);
    const item = (await api.get(`/api/v2/inference/${id}/stac/items/${task.task_id}`)).body;
    expect(item.assets.probabilities.title).toMatch(/float32 0-1/);
    expect(item.assets.probabilities['raster:bands']).toEqual(
      ['one', 'two', 'three'].map((name) =>
        expect.objectContaining({ name, data_type: 'float32', nodata: 'nan', unit: '1' }),
      ),
    );
    const file = await download(item.assets.probabilities.href, 'probabilities-float.tif');
    const check = await pythonJson(['check_probabilities', path.join(workDir, 'three.tif'), file]);
    expect(check).toMatchObject({
      dtype: 'float32',
      count: 3,
      nodata_is_nan: true,
      nodata_all_nan: true,
      valid_all_finite: true,
      in_unit_range: true,
    });
    expect(Math.abs(check.sum_min - 1)).toBeLessThan(1e-5);
    expect(Math.abs(check.sum_max - 1)).toBeLessThan(1e-5);
    expect(check.max_abs_diff).toBeLessThan(1e-5);
    expect((await validateCogs([file]))[file]!.errors).toEqual([]);
  }, 300_000);
});
