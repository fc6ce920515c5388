import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { startGeoServerDouble, type GeoServerDouble } from '../support/geoserver-double';
import { makeSampleGeoTiff, runPython } from '../support/python';
import { demoModelPaths } from '../support/services';
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
});
