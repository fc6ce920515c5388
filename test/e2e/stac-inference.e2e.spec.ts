import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';
import { startRangeFileServer, startStacDouble, type StacDouble } from '../support/stac-double';
import { checkChip, hlsItem, makeStacFixtures, s2Item, type StacFixtures } from '../support/stac-fixtures';

const BANDS = ['blue', 'green', 'red', 'nir', 'swir16', 'swir22'];

/**
 * bbox / polygons / tiles x dates through the whole pipeline: STAC search on a local double (Earth Search
 * paging), chips from COG fixtures over HTTP range requests, the demo model, SCL cloud masking.
 */
describe('inference on STAC imagery (bbox, polygons, tiles)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: StacFixtures;
  let files: Awaited<ReturnType<typeof startRangeFileServer>>;
  let double: StacDouble;
  let workDir: string;
  let modelName: string;
  let coarseModelName: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-stac-e2e-'));
    fixtures = await makeStacFixtures();
    files = await startRangeFileServer(fixtures.dir);
    const [minX, minY, maxX, maxY] = fixtures.sceneBbox;
    const chipWidth = fixtures.chipBbox[2] - fixtures.chipBbox[0];
    const item = (id: string, datetime: string, cloudCover: number, bbox = fixtures.sceneBbox) =>
      s2Item(id, { bbox, datetime, cloudCover, assetUrl: files.url });
    // One item per page: the least cloudy one within maxcc comes last, after a cloudier one of the same day.
    double = await startStacDouble(
      [
        item('S2B_33UXP_20240615_0_L2A_cloudy', '2024-06-15T10:05:00Z', 65),
        item('S2A_33UXP_20240615_0_L2A_medium', '2024-06-15T10:00:00Z', 25),
        // Clearest, but its footprint stops in the middle of the chip area.
        item('S2A_33UXP_20240615_1_L2A_partial', '2024-06-15T10:01:00Z', 1, [
          minX,
          minY,
          fixtures.chipBbox[0] + chipWidth / 2,
          maxY,
        ]),
        item('S2B_33UXP_20240615_1_L2A_best', '2024-06-15T10:10:00Z', 8),
        item('S2A_33UXP_20240620_0_L2A', '2024-06-20T10:00:00Z', 0),
        hlsItem('HLS.S30.T33UXP.2024167T100031.v2.0', {
          bbox: fixtures.sceneBbox,
          datetime: '2024-06-15T10:00:31Z',
          cloudCover: 12,
          assetUrl: files.url,
        }),
      ],
      { maxPageSize: 1 },
    );
    void maxX;
    modelName = `csmask-stac-${Date.now()}`;
    stack = await startTestStack({
      storage: 'minio',
      // The demo model doubles as the cloud model of cloud_masking for URL inputs.
      env: {
        STAC_API_URL: double.url,
        HLS_STAC_API_URL: double.url,
        PERMANENT_WATER_MASK_PATH: fixtures.waterPath,
        CLOUD_MASK_MODEL_ID: modelName,
        // The old default, so a whole tile at 10 m is refused and the 422 can be checked (the default admits it).
        CHIP_MAX_PIXELS: '25000000',
      },
    });
    api = new ApiClient(stack.baseUrl);
    const { model, meta } = demoModelPaths();
    expect((await api.registerModel(demoModelMetadata(meta, modelName), model)).status).toBe(201);
    // The same network on a 500 m grid: a whole 100 km MGRS tile is a 200 x 200 chip.
    coarseModelName = `${modelName}-500m`;
    const coarse = demoModelMetadata(meta, coarseModelName);
    const registered = await api.registerModel(
      { ...coarse, model_input_data_spec: { ...coarse.model_input_data_spec, resolution: 500 } },
      model,
    );
    expect(registered.status).toBe(201);
  });

  afterAll(async () => {
    await stack?.stop();
    await double?.close();
    await files?.close();
    if (fixtures) fs.rmSync(fixtures.dir, { recursive: true, force: true });
    if (fixtures) fs.rmSync(fixtures.waterPath, { force: true });
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  async function tasksOf(id: string) {
    return (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks as any[];
  }

  async function download(key: string, name: string): Promise<string> {
    const file = path.join(workDir, name);
    await stack.store.downloadToFile(key, file);
    return file;
  }

  it('bbox + date + maxcc: picks the least cloudy covering scene across pages, builds the chip, runs the model and masks SCL clouds', async () => {
    files.bytesServed.clear();
    const before = double.requests.length;
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { bbox: [fixtures.chipBbox] },
      temporal_domain: ['2024-06-15'],
      maxcc: 30,
      post_processing: { cloud_masking: true },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      tasks_count_total: 1,
      maxcc: 30,
      spatial_domain: { bbox: [fixtures.chipBbox] },
    });
    const finished = await api.waitForInference(created.body.id);
    expect(finished).toMatchObject({ status: 'COMPLETED', tasks_count_success: 1 });

    // The search: bbox, the UTC day, cloud cover through the query extension, paged with merged POST bodies.
    const requests = double.requests.slice(before);
    expect(requests[0]).toMatchObject({
      collections: ['sentinel-2-l2a'],
      bbox: fixtures.chipBbox,
      datetime: '2024-06-15T00:00:00.000Z/2024-06-15T23:59:59.999Z',
      query: { 'eo:cloud_cover': { lte: 30 } },
    });
    expect(requests.length).toBe(3);
    expect(requests[2]).toMatchObject({ ...requests[0], next: expect.any(String) });

    const [task] = await tasksOf(created.body.id);
    const fetched = task.outputs['terrakit-data-fetch'];
    expect(fetched).toMatchObject({
      item_id: 'S2B_33UXP_20240615_1_L2A_best',
      cloud_cover: 8,
      collection: 'sentinel-2-l2a',
      items_found: 3,
      pages: 3,
      epsg: 32633,
      bands: 6,
    });

    const chip = await download(fetched.inputKey, 'chip.tif');
    const output = await download(task.outputs['model-inference'].outputKey, 'output.tif');
    const check = await checkChip(chip, fixtures.dir, BANDS, { output });
    expect(check).toMatchObject({
      epsg: 32633,
      count: 6,
      descriptions: BANDS,
      width: fetched.width,
      height: fetched.height,
    });
    expect(check.transform[0]).toBe(10);
    expect(check.transform[2] % 10).toBe(0);
    for (const band of check.bands_check.slice(0, 4)) expect(band.equal_fraction).toBeGreaterThan(0.999);
    for (const band of check.bands_check.slice(4)) expect(band.correlation).toBeGreaterThan(0.9);

    // Cloud masking: exactly the SCL 3/8/9/10 pixels (and input nodata) are output nodata.
    expect(check.mask_check!.cloudy_pixels).toBeGreaterThan(0.05 * check.mask_check!.total);
    expect(check.mask_check!.mismatches).toBe(0);
    const inference = task.outputs['model-inference'];
    expect(inference.post_processing.cloud_masking).toBeGreaterThan(0);
    expect(inference.post_processing.cloud_masking).toBeLessThanOrEqual(check.mask_check!.cloudy_pixels);
    const log = await api.get(`/api/v2/tasks/${task.task_id}/logs/model-inference`);
    expect(log.text).toMatch(/post-processing set pixels to nodata 255: \{"cloud_masking":\d+\}/);
    const fetchLog = await api.get(`/api/v2/tasks/${task.task_id}/logs/terrakit-data-fetch`);
    expect(fetchLog.text).toMatch(/picked sentinel-2-l2a\/S2B_33UXP_20240615_1_L2A_best/);

    // Only the blocks under the chip were read from the COGs.
    const served = [...files.bytesServed.values()].reduce((a, b) => a + b, 0);
    const whole = Object.values(fixtures.sizes).reduce((a, b) => a + b, 0);
    expect(served).toBeLessThan(0.1 * whole);
  });

  it('fails the task with a readable reason when no scene is within maxcc', async () => {
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { bbox: [fixtures.chipBbox] },
      temporal_domain: ['2024-06-15'],
      maxcc: 5,
    });
    expect(created.status).toBe(201);
    const finished = await api.waitForInference(created.body.id);
    expect(finished).toMatchObject({ status: 'FAILED', tasks_count_failed: 1 });
    const [task] = await tasksOf(created.body.id);
    expect(task.pipeline_steps[0]).toMatchObject({ process_id: 'terrakit-data-fetch', status: 'FAILED' });
    expect(task.pipeline_steps[0].message).toMatch(
      /no Sentinel-2 L2A scene \(collection sentinel-2-l2a\) covers bbox .* in 2024-06-15 with cloud cover <= 5%/,
    );
  });

  it('polygons with a date interval: searched with intersects, pixels outside the polygon are nodata', async () => {
    const [minX, minY, maxX, maxY] = fixtures.chipBbox;
    const triangle = {
      type: 'Feature',
      properties: {},
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [minX, minY],
            [maxX, minY],
            [(minX + maxX) / 2, maxY],
            [minX, minY],
          ],
        ],
      },
    };
    const before = double.requests.length;
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { polygons: [triangle] },
      temporal_domain: ['2024-06-14/2024-06-16'],
      maxcc: 30,
    });
    expect(created.status).toBe(201);
    expect(await api.waitForInference(created.body.id)).toMatchObject({ status: 'COMPLETED' });
    expect(double.requests[before]).toMatchObject({
      intersects: triangle.geometry,
      datetime: '2024-06-14T00:00:00.000Z/2024-06-16T23:59:59.999Z',
    });
    expect(double.requests[before].bbox).toBeUndefined();
    const [task] = await tasksOf(created.body.id);
    const chip = await download(task.outputs['terrakit-data-fetch'].inputKey, 'polygon-chip.tif');
    const check = await checkChip(chip, fixtures.dir, BANDS, { polygon: triangle.geometry });
    expect(check.polygon_check!.outside_nodata_fraction).toBe(1);
    expect(check.polygon_check!.inside_valid_fraction).toBeGreaterThan(0.99);
  });

  it('tiles: an MGRS tile at the model resolution; too large at 10 m is a 422 naming the tile', async () => {
    const tooLarge = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { tiles: ['33UXP'] },
      temporal_domain: ['2024-06-15'],
    });
    expect(tooLarge.status).toBe(422);
    expect(tooLarge.body.field).toBe('spatial_domain.tiles.0');
    expect(tooLarge.body.message).toMatch(/CHIP_MAX_PIXELS/);

    const before = double.requests.length;
    const created = await api.post('/api/v2/inference', {
      model_display_name: coarseModelName,
      spatial_domain: { tiles: ['33uxp'] },
      temporal_domain: ['2024-06-15'],
      maxcc: 30,
    });
    expect(created.status).toBe(201);
    expect(await api.waitForInference(created.body.id)).toMatchObject({ status: 'COMPLETED' });
    expect(double.requests[before].query).toMatchObject({
      'mgrs:utm_zone': { eq: 33 },
      'mgrs:latitude_band': { eq: 'U' },
      'mgrs:grid_square': { eq: 'XP' },
    });
    const [task] = await tasksOf(created.body.id);
    // A tile's items need not cover a bbox: the clearest item of the tile wins.
    expect(task.outputs['terrakit-data-fetch']).toMatchObject({
      item_id: 'S2A_33UXP_20240615_1_L2A_partial',
      epsg: 32633,
    });
    expect(task.outputs['terrakit-data-fetch'].width).toBeGreaterThan(190);
    expect(task.outputs['terrakit-data-fetch'].width).toBeLessThan(230);
  });

  it('dry run: the tasks and the scene each would use (the same choice as a real run) or why none fits; nothing started or stored', async () => {
    const countRows = async () =>
      Number((await stack.dataSource.query('SELECT count(*) AS n FROM inferences'))[0].n) +
      Number((await stack.dataSource.query('SELECT count(*) AS n FROM inference_tasks'))[0].n);
    const rowsBefore = await countRows();
    const url = 'http://127.0.0.1:9/scenes/not-read-by-a-dry-run.tif';
    const response = await api.post('/api/v2/inference/dry-run', {
      model_display_name: modelName,
      spatial_domain: { bbox: [fixtures.chipBbox], urls: [url] },
      temporal_domain: ['2024-06-15', '2024-06-20', '2024-07-01'],
      maxcc: 30,
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      dry_run: true,
      model_display_name: modelName,
      model_version: 1,
      steps: ['terrakit-data-fetch', 'model-inference', 'push-to-geoserver'],
      tasks_count_total: 4,
      tasks_available: 3,
      tasks_unavailable: 1,
    });
    const [byUrl, june15, june20, july1] = response.body.tasks;
    expect(byUrl).toMatchObject({ task_index: 0, input: { kind: 'url', url }, scene: null, available: true });
    // The scene the real run of the first test picked: the least cloudy covering one within maxcc, across pages.
    expect(june15).toMatchObject({
      task_index: 1,
      input: { kind: 'stac', date: '2024-06-15', maxcc: 30, bbox: fixtures.chipBbox },
      scene: {
        item_id: 'S2B_33UXP_20240615_1_L2A_best',
        collection: 'sentinel-2-l2a',
        datetime: '2024-06-15T10:10:00Z',
        cloud_cover: 8,
      },
      scenes_found: 3,
      available: true,
      reason: null,
    });
    expect(june20.scene).toMatchObject({ item_id: 'S2A_33UXP_20240620_0_L2A', cloud_cover: 0 });
    expect(july1).toMatchObject({ scene: null, available: false, scenes_found: 0 });
    expect(july1.reason).toMatch(/covers bbox .* in 2024-07-01 with cloud cover <= 30%/);

    // maxcc: the same words as the failed step of a real run; a tile: the clearest item of the tile.
    const clear = await api.post('/api/v2/inference/dry-run', {
      model_display_name: modelName,
      spatial_domain: { bbox: [fixtures.chipBbox] },
      temporal_domain: ['2024-06-15'],
      maxcc: 5,
    });
    expect(clear.body.tasks[0].reason).toMatch(
      /no Sentinel-2 L2A scene \(collection sentinel-2-l2a\) covers bbox .* in 2024-06-15 with cloud cover <= 5%/,
    );
    const tile = await api.post('/api/v2/inference/dry-run', {
      model_display_name: coarseModelName,
      spatial_domain: { tiles: ['33uxp'] },
      temporal_domain: ['2024-06-15'],
      maxcc: 30,
    });
    expect(tile.body.tasks[0].scene.item_id).toBe('S2A_33UXP_20240615_1_L2A_partial');
    expect(await countRows()).toBe(rowsBefore);

    // Validated exactly like a create: the same status, field and message.
    const invalid = [
      { model_display_name: modelName, spatial_domain: { tiles: ['33UXP'] }, temporal_domain: ['2024-06-15'] },
      { model_display_name: modelName, spatial_domain: { bbox: [fixtures.chipBbox] }, temporal_domain: [] },
      { model_display_name: 'no-such-model', spatial_domain: { urls: [url] }, temporal_domain: [] },
      { model_display_name: modelName, spatial_domain: { urls: [url] }, temporal_domain: [], maxcc: 101 },
      { model_display_name: modelName, spatial_domain: { urls: [url] }, temporal_domain: [], extra: 1 },
    ];
    for (const body of invalid) {
      const dry = await api.post('/api/v2/inference/dry-run', body);
      const real = await api.post('/api/v2/inference', body);
      expect(dry.status).toBeGreaterThanOrEqual(400);
      expect(dry.status).toBeLessThan(500);
      expect({ status: dry.status, field: dry.body.field, message: dry.body.message }).toEqual({
        status: real.status,
        field: real.body.field,
        message: real.body.message,
      });
    }
    expect(await countRows()).toBe(rowsBefore);
  });

  it('permanent_water_masking: the configured reference (another CRS) masks the water side of the chip', async () => {
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { bbox: [fixtures.chipBbox] },
      temporal_domain: ['2024-06-15'],
      maxcc: 30,
      post_processing: { permanent_water_masking: true },
    });
    expect(created.status).toBe(201);
    expect(await api.waitForInference(created.body.id)).toMatchObject({ status: 'COMPLETED' });
    const [task] = await tasksOf(created.body.id);
    const chip = await download(task.outputs['terrakit-data-fetch'].inputKey, 'water-chip.tif');
    const output = await download(task.outputs['model-inference'].outputKey, 'water-output.tif');
    const check = await checkChip(chip, fixtures.dir, BANDS, { output, waterLon: fixtures.waterLon });
    expect(check.water_check!.west).toBeGreaterThan(1000);
    expect(check.water_check!.west_nodata_fraction).toBe(1);
    expect(check.water_check!.east_nodata_fraction).toBe(0);
    expect(task.outputs['model-inference'].post_processing.permanent_water_masking).toBeGreaterThanOrEqual(
      check.water_check!.west,
    );
  });

  it('HLS: searches both HLS collections, maps B02..B12 to the model bands and masks Fmask clouds and snow', async () => {
    const before = double.requests.length;
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { bbox: [fixtures.chipBbox] },
      temporal_domain: ['2024-06-15'],
      data_source: 'hls',
      maxcc: 30,
      post_processing: { cloud_masking: true, snow_ice_masking: true },
    });
    expect(created.status).toBe(201);
    expect(await api.waitForInference(created.body.id)).toMatchObject({ status: 'COMPLETED' });
    expect(double.requests[before].collections).toEqual(['HLSS30_2.0', 'HLSL30_2.0']);
    const [task] = await tasksOf(created.body.id);
    expect(task.outputs['terrakit-data-fetch']).toMatchObject({
      item_id: 'HLS.S30.T33UXP.2024167T100031.v2.0',
      collection: 'HLSS30_2.0',
    });
    const chip = await download(task.outputs['terrakit-data-fetch'].inputKey, 'hls-chip.tif');
    const output = await download(task.outputs['model-inference'].outputKey, 'hls-output.tif');
    // Fmask has cirrus (SCL 10) in bit 0, which cloud_masking leaves alone.
    const check = await checkChip(chip, fixtures.dir, BANDS, { output, maskedScl: [3, 8, 9, 11] });
    for (const band of check.bands_check.slice(0, 4)) expect(band.equal_fraction).toBeGreaterThan(0.999);
    expect(check.mask_check!.cloudy_pixels).toBeGreaterThan(0);
    expect(check.mask_check!.mismatches).toBe(0);
  });

  it('cloud_masking of a URL input (no classification band) uses the configured cloud model', async () => {
    await makeSampleGeoTiff(path.join(fixtures.dir, 'sample.tif'), 512, 7);
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { urls: [files.url('sample.tif')] },
      temporal_domain: ['2024-06-15'],
      post_processing: { cloud_masking: true },
    });
    expect(created.status).toBe(201);
    expect(await api.waitForInference(created.body.id)).toMatchObject({ status: 'COMPLETED' });
    const [task] = await tasksOf(created.body.id);
    const result = task.outputs['model-inference'];
    // The cloud model is the segmentation model itself here: every cloud / shadow pixel is masked.
    expect(result.post_processing.cloud_masking).toBeGreaterThan(0.01 * 512 * 512);
    expect(result.class_pixel_counts.cloud).toBeUndefined();
    expect(result.class_pixel_counts.cloud_shadow).toBeUndefined();
    const log = await api.get(`/api/v2/tasks/${task.task_id}/logs/model-inference`);
    expect(log.text).toMatch(/cloud model csmask-stac-\d+ for cloud_masking/);
  });

  it.each([
    [
      'snow_ice_masking on URL inputs',
      { spatial_domain: { urls: ['http://127.0.0.1:9/x.tif'] }, post_processing: { snow_ice_masking: true } },
      422,
      'post_processing.snow_ice_masking',
      /no scene classification band/,
    ],
    ['a bbox without dates', { temporal_domain: [] }, 422, 'temporal_domain', /at least one date/],
    [
      'an area over the size limit',
      { spatial_domain: { bbox: [[10, 40, 20, 50]] } },
      422,
      'spatial_domain.bbox.0',
      /million pixels/,
    ],
    [
      'latitudes out of range',
      { spatial_domain: { bbox: [[10, -95, 11, 1]] } },
      400,
      'spatial_domain.bbox.0',
      /lat in \[-90, 90\]/,
    ],
    [
      'a self-intersecting polygon',
      {
        spatial_domain: {
          polygons: [
            {
              type: 'Polygon',
              coordinates: [
                [
                  [16, 48],
                  [16.1, 48.1],
                  [16.1, 48],
                  [16, 48.1],
                  [16, 48],
                ],
              ],
            },
          ],
        },
      },
      400,
      'spatial_domain.polygons.0',
      /not a valid polygon/,
    ],
    [
      'a polygon that is a point',
      { spatial_domain: { polygons: [{ type: 'Point', coordinates: [16, 48] }] } },
      400,
      'spatial_domain.polygons.0',
      /Polygon or MultiPolygon/,
    ],
    ['a malformed tile id', { spatial_domain: { tiles: ['33UXZ9'] } }, 400, 'spatial_domain.tiles.0', /MGRS tile id/],
    [
      'an inverted date interval',
      { temporal_domain: ['2024-06-16/2024-06-14'] },
      400,
      'temporal_domain.0',
      /end is before the start/,
    ],
    ['an unknown data source', { data_source: 'landsat-9' }, 400, 'data_source', /./],
  ])('rejects %s', async (_label, change, status, field, message) => {
    const response = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { bbox: [fixtures.chipBbox] },
      temporal_domain: ['2024-06-15'],
      ...change,
    });
    expect(response.status).toBe(status);
    expect(response.body.field).toBe(field);
    expect(response.body.message).toMatch(message);
  });
});
