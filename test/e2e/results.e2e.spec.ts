import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { startGeoServerDouble, type GeoServerDouble } from '../support/geoserver-double';
import { makeSampleGeoTiff, runPython } from '../support/python';
import { decodePng } from '../support/png';
import { demoModelPaths } from '../support/services';
import { tileRange } from '../support/tiles';
import { startTestStack, type TestStack } from '../support/stack';

/**
 * "Results people can use", end to end with the real demo model, MinIO, Temporal and a GeoServer double:
 * COG outputs, layers published through GeoServer's REST API (WMS URL on the push step), and a COCO export
 * downloaded over the API and checked with pycocotools against the output masks.
 */
describe('inference results: COCO export, COG outputs, GeoServer layers', () => {
  let stack: TestStack;
  let api: ApiClient;
  let geoserver: GeoServerDouble;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelName: string;
  let modelSha256: string;
  /** The first test's inference (two URL scenes), reused by the STAC / vectors test. */
  let firstId: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-results-'));
    await makeSampleGeoTiff(path.join(workDir, 'a.tif'), 512, 7);
    await makeSampleGeoTiff(path.join(workDir, 'b.tif'), 384, 11);
    fixtures = await startFixtureServer(workDir);
    geoserver = await startGeoServerDouble({ user: 'admin', password: 'e2e-secret' });
    stack = await startTestStack({
      storage: 'minio',
      env: { GEOSERVER_URL: geoserver.url, GEOSERVER_USER: 'admin', GEOSERVER_PASSWORD: 'e2e-secret' },
    });
    api = new ApiClient(stack.baseUrl);
    const { model, meta } = demoModelPaths();
    modelName = `csmask-results-${Date.now()}`;
    const registered = await api.registerModel(demoModelMetadata(meta, modelName), model);
    expect(registered.status).toBe(201);
    modelSha256 = registered.body.model_file_sha256;
  });

  afterAll(async () => {
    await stack?.stop();
    await geoserver?.close();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('runs two scenes, publishes them to GeoServer and serves a COCO export that pycocotools reads back exactly', async () => {
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { urls: [fixtures.url('a.tif'), fixtures.url('b.tif')] },
      temporal_domain: ['2024-06-15'],
    });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    firstId = id;
    const early = await api.get(`/api/v2/inference/${id}/coco`);
    expect(early.status).toBe(404);
    expect(early.body.message).toMatch(
      new RegExp(`no COCO export for inference ${id} yet: the inference is (PENDING|RUNNING)`),
    );

    const finished = await api.waitForInference(id);
    expect(finished).toMatchObject({
      status: 'COMPLETED',
      tasks_count_success: 2,
      coco_url: `${stack.baseUrl}/api/v2/inference/${id}/coco`,
    });
    const tasks = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks as Array<{
      task_id: string;
      outputs: Record<string, any>;
    }>;

    // GeoServer: each task's layer published with the model's class style; the push step records the WMS URL.
    for (const task of tasks) {
      const push = task.outputs['push-to-geoserver'];
      expect(push).toMatchObject({
        publisher: 'geoserver',
        workspace: 'geo_inference',
        layer_name: `${modelName}_${task.task_id}`,
        style: 'csmask',
      });
      expect(push.wms_url).toContain(`${geoserver.url}/geo_inference/wms?service=WMS`);
      expect(new URL(push.wms_url).searchParams.get('layers')).toBe(`geo_inference:${modelName}_${task.task_id}`);
      expect(geoserver.layers.get(`geo_inference:${modelName}_${task.task_id}`)).toEqual({
        defaultStyle: { name: 'csmask', workspace: 'geo_inference' },
      });
    }
    expect(geoserver.styles.get('geo_inference:csmask')).toMatch(
      /<ColorMapEntry color="#f0f0f0" quantity="1" label="cloud" opacity="1"\/>/,
    );

    // COCO export over the API.
    const download = await fetch(`${stack.baseUrl}/api/v2/inference/${id}/coco`, {
      headers: { Authorization: `Bearer ${api.apiKey}` },
    });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toMatch(/application\/json/);
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="${id}-coco.json"`);
    const coco = (await download.json()) as any;
    expect(coco.categories.map((c: { name: string; pixel_value: number }) => [c.name, c.pixel_value])).toEqual([
      ['cloud', 1],
      ['cloud_shadow', 2],
    ]);
    expect(coco.images).toHaveLength(2);
    expect(coco.annotations.length).toBeGreaterThan(0);

    // Output masks (COGs) downloaded as a user would, then pycocotools compares.
    const manifest: Record<string, string> = {};
    for (const image of coco.images as Array<{ file_name: string; task_id: string }>) {
      const signed = await api.get(`/api/v2/tasks/${image.task_id}/output-url`);
      expect(signed.status).toBe(200);
      const file = path.join(workDir, `${image.task_id}.tif`);
      fs.writeFileSync(file, Buffer.from(await (await fetch(signed.body.url)).arrayBuffer()));
      manifest[image.file_name] = file;
    }
    fs.writeFileSync(path.join(workDir, 'coco.json'), JSON.stringify(coco));
    fs.writeFileSync(path.join(workDir, 'manifest.json'), JSON.stringify(manifest));
    const report = JSON.parse(
      (
        await runPython('test/support/validate_coco.py', [
          path.join(workDir, 'coco.json'),
          path.join(workDir, 'manifest.json'),
        ])
      )
        .trim()
        .split('\n')
        .pop()!,
    );
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ images: 2, annotations: coco.annotations.length });
    expect(report.category_pixels).toEqual(report.mask_pixels);
    expect(report.mask_pixels['1']).toBeGreaterThan(0); // the sample scenes have clouds

    // The outputs are COGs.
    const layout = await runPython('test/support/overview_values.py', [Object.values(manifest)[0]!]);
    expect(JSON.parse(layout.trim()).length).toBeGreaterThanOrEqual(1);
  });

  /** Every object of an inference in storage, by key relative to its folder (a copied-away static catalog). */
  async function copyInference(id: string, target: string): Promise<Record<string, string>> {
    const prefix = `inferences/${id}/`;
    const hashes: Record<string, string> = {};
    for (const object of await stack.store.list(prefix)) {
      const relative = object.key.slice(prefix.length);
      const file = path.join(target, relative);
      await stack.store.downloadToFile(object.key, file);
      hashes[relative] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    }
    return hashes;
  }

  it('describes the results as a STAC catalog with provenance, vectorises the masks, and reruns byte-identically', async () => {
    const id = firstId;
    expect(id).toBeDefined();
    const tasks = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks as Array<{
      task_id: string;
      task_index: number;
      outputs: Record<string, any>;
      input_preview_tile_url_template: string;
    }>;
    // Provenance in the tasks' step results.
    for (const task of tasks) {
      const provenance = task.outputs.results.provenance;
      expect(provenance.model).toMatchObject({ name: modelName, file_sha256: modelSha256 });
      expect(provenance.model.input_spec.bands.map((band: { name: string }) => band.name)).toEqual([
        'blue',
        'green',
        'red',
        'nir',
        'swir16',
        'swir22',
      ]);
      expect(provenance.sources).toEqual([
        { kind: 'url', url: fixtures.url(task.task_index === 0 ? 'a.tif' : 'b.tif') },
      ]);
      expect(provenance.chip_grid).toMatchObject({ crs: 'EPSG:32633', width: task.task_index === 0 ? 512 : 384 });
      expect(provenance.code_version).toMatch(/^geo-inference \d+\.\d+\.\d+/);
      expect(provenance.processor).toBeNull();
      expect(task.outputs.results.input_preview).toMatchObject({
        bands: ['red', 'green', 'blue'],
        percentiles: [2, 98],
      });
    }

    // Served STAC: API links, signed asset URLs that download.
    const collection = await api.get(`/api/v2/inference/${id}/stac`);
    expect(collection.status).toBe(200);
    expect(collection.body).toMatchObject({ type: 'Collection', stac_version: '1.1.0', id });
    const itemLinks = (collection.body.links as Array<{ rel: string; href: string }>).filter((l) => l.rel === 'item');
    expect(itemLinks.map((link) => link.href)).toEqual(
      tasks.map((task) => `${stack.baseUrl}/api/v2/inference/${id}/stac/items/${task.task_id}`),
    );
    const apiDir = path.join(workDir, 'api-items');
    fs.mkdirSync(apiDir, { recursive: true });
    for (const task of tasks) {
      const item = await api.get(`/api/v2/inference/${id}/stac/items/${task.task_id}`);
      expect(item.status).toBe(200);
      expect(item.body.properties['geo_inference:provenance']).toEqual(task.outputs.results.provenance);
      expect(Object.keys(item.body.assets).sort()).toEqual(
        ['coco', 'input', 'input-preview', 'model', 'prediction', 'thumbnail', 'vectors', 'vectors-fgb'].sort(),
      );
      const prediction = await fetch(item.body.assets.prediction.href);
      expect(prediction.status).toBe(200);
      const bytes = Buffer.from(await prediction.arrayBuffer());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(task.outputs.results.provenance.output_sha256);
      expect((await fetch(item.body.assets['input-preview'].href)).status).toBe(200);
      fs.writeFileSync(path.join(apiDir, `${task.task_id}.json`), JSON.stringify(item.body));
      // The input preview as a tile layer: the tile over the footprint's centre is true colour, opaque.
      const [west, south, east, north] = item.body.bbox as number[];
      const centre = tileRange(
        [(west! + east!) / 2, (south! + north!) / 2, (west! + east!) / 2, (south! + north!) / 2],
        14,
      );
      const tile = await fetch(
        task.input_preview_tile_url_template
          .replace('{z}', '14')
          .replace('{x}', String(centre.x0))
          .replace('{y}', String(centre.y0)),
      );
      expect(tile.status).toBe(200);
      const picture = decodePng(Buffer.from(await tile.arrayBuffer()));
      expect([picture.width, picture.height]).toEqual([256, 256]);
      let opaque = 0;
      const colours = new Set<number>();
      for (let i = 0; i < picture.rgba.length; i += 4) {
        if (picture.rgba[i + 3] === 255) opaque++;
        colours.add((picture.rgba[i]! << 16) | (picture.rgba[i + 1]! << 8) | picture.rgba[i + 2]!);
      }
      expect(opaque).toBeGreaterThan(256 * 256 * 0.5);
      expect(colours.size).toBeGreaterThan(100);
    }
    expect((await api.get(`/api/v2/inference/${id}/stac/items/${id}-task-999`)).status).toBe(404);

    // The static catalog copied out of storage validates offline and is self-contained.
    const copy = path.join(workDir, 'catalog-a');
    const first = await copyInference(id, copy);
    const report = JSON.parse(
      (
        await runPython('test/support/validate_stac.py', [
          path.join(copy, 'collection.json'),
          ...tasks.map((task) => `--api-item=${path.join(apiDir, `${task.task_id}.json`)}`),
        ])
      )
        .trim()
        .split('\n')
        .pop()!,
    );
    expect(report.problems).toEqual([]);
    expect(report.items).toBe(2);
    expect(report.features).toBeGreaterThan(0);

    // Vectors over the API: each task's checked against its mask with GDAL; the inference's as one file.
    let features = 0;
    for (const task of tasks) {
      const files: Record<string, string> = {};
      for (const format of ['geojson', 'fgb']) {
        const response = await fetch(
          `${stack.baseUrl}/api/v2/inference/${id}/tasks/${task.task_id}/vectors?format=${format}`,
          { headers: { Authorization: `Bearer ${api.apiKey}` } },
        );
        expect(response.status).toBe(200);
        files[format] = path.join(workDir, `${task.task_id}.${format}`);
        fs.writeFileSync(files[format]!, Buffer.from(await response.arrayBuffer()));
      }
      const check = JSON.parse(
        (
          await runPython('test/support/check_vectors.py', [
            path.join(copy, task.task_id, 'model-output.tif'),
            files.fgb!,
            files.geojson!,
            '--skip',
            '0',
            '--skip',
            '255',
          ])
        )
          .trim()
          .split('\n')
          .pop()!,
      );
      expect(check.rasterized_equal).toBe(check.rasterized_total);
      expect(check.features).toEqual(check.components);
      features += check.ogrinfo.fgb.features;
    }
    const all = await fetch(`${stack.baseUrl}/api/v2/inference/${id}/vectors?format=fgb`, {
      headers: { Authorization: `Bearer ${api.apiKey}` },
    });
    expect(all.headers.get('content-type')).toMatch(/application\/vnd\.flatgeobuf/);
    fs.writeFileSync(path.join(workDir, 'all.fgb'), Buffer.from(await all.arrayBuffer()));
    const frame = JSON.parse(await runPython('test/support/read_vectors.py', [path.join(workDir, 'all.fgb')]));
    expect(frame).toMatchObject({ features, crs: 32633 });
    const geojson = (await api.get(`/api/v2/inference/${id}/vectors`)).body;
    expect(geojson.type).toBe('FeatureCollection');
    expect(geojson.features).toHaveLength(features);
    expect(geojson.features[0].properties).toEqual({
      class_value: expect.any(Number),
      class_name: expect.stringMatching(/^cloud/),
      pixel_count: expect.any(Number),
      area_m2: expect.any(Number),
    });
    const bad = await api.get(`/api/v2/inference/${id}/vectors?format=shp`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^format: must be one of geojson, fgb/);

    // The same inference again on the same inputs: byte-identical outputs.
    const again = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { urls: [fixtures.url('a.tif'), fixtures.url('b.tif')] },
      temporal_domain: ['2024-06-15'],
    });
    expect(again.status).toBe(201);
    expect((await api.waitForInference(again.body.id)).status).toBe('COMPLETED');
    const second = await copyInference(again.body.id, path.join(workDir, 'catalog-b'));
    const byTask = (hashes: Record<string, string>, prefix: string) =>
      Object.fromEntries(
        Object.entries(hashes)
          .filter(([key]) =>
            /\/(model-output\.tif|vectors\.geojson|vectors\.fgb|thumbnail\.png|input-preview\.tif|input\.tif)$/.test(
              key,
            ),
          )
          .map(([key, hash]) => [key.replace(prefix, 'task'), hash]),
      );
    const firstOutputs = byTask(first, id);
    expect(Object.keys(firstOutputs)).toHaveLength(12);
    expect(byTask(second, again.body.id)).toEqual(firstOutputs);

    // One task's vector files gone from storage: the merged downloads answer a plain 404 JSON naming the
    // file before any byte is sent (not a truncated 200), and the other task's file is left alone.
    const [lost, kept] = (await stack.store.list(`inferences/${again.body.id}/`))
      .map((object) => object.key)
      .filter((key) => key.endsWith('/vectors.fgb'))
      .sort();
    expect(kept).toBeDefined();
    const lostPrefix = lost!.replace(/vectors\.fgb$/, '');
    await stack.store.deleteObject(`${lostPrefix}vectors.geojson`);
    await stack.store.deleteObject(`${lostPrefix}vectors.fgb`);
    for (const [format, file] of [
      ['geojson', 'vectors.geojson'],
      ['fgb', 'vectors.fgb'],
    ]) {
      const missing = await api.get(`/api/v2/inference/${again.body.id}/vectors?format=${format}`);
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({
        statusCode: 404,
        message: `the vector file ${file} is no longer in storage`,
      });
    }
    expect(await stack.store.exists(kept!)).toBe(true);
  });
});
