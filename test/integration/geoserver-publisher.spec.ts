import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { StepFailure } from '../../workflows/contract/errors';
import { GeoServerPublisher } from '../../src/geo/publish/geoserver-publisher';
import type { PublishRequest } from '../../src/geo/publish/publisher';
import { readGeoTiff } from '../../src/geo/raster/decode';
import { writeMaskGeoTiff } from '../../src/geo/raster/mask-geotiff';
import { FilesystemObjectStore } from '../../src/platform/storage/filesystem-object-store';
import { startGeoServerDouble, type GeoServerDouble } from '../support/geoserver-double';
import { freePort } from '../support/stack';

/** GeoServer REST publishing over real HTTP against a double that keeps GeoServer's state and status codes. */
describe('GeoServerPublisher', () => {
  let geoserver: GeoServerDouble;
  let dir: string;
  let store: FilesystemObjectStore;
  const rasterKey = 'inferences/inf-1/task-1/model-output.tif';
  const request: PublishRequest = {
    inferenceId: 'inf-1',
    taskId: 'task-1',
    modelId: 'model-1',
    modelDisplayName: 'csmask',
    rasterKey,
    geoserverPush: { workspace: 'geo_inference', layer_name: '{model}_{task_id}', style: 'csmask_style' },
    classes: [
      { value: 0, name: 'clear', color: '#2b83ba' },
      { value: 1, name: 'cloud & haze <thick>', color: '#FFFFFF' },
      { value: 2, name: 'cloud_shadow' },
    ],
    outputNodata: 255,
  };

  beforeAll(async () => {
    geoserver = await startGeoServerDouble({ user: 'admin', password: 's3cret' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geoserver-pub-'));
    store = new FilesystemObjectStore({
      rootDir: path.join(dir, 'objects'),
      publicBaseUrl: 'http://127.0.0.1:1',
      signingSecret: 'test-signing-secret-0123456789',
    });
    await store.ensureReady();
    // A mask on the grid of a real georeferenced fixture (EPSG from the fixture's GeoKeys).
    const source = await readGeoTiff(path.join(__dirname, '..', 'fixtures', 'raster-uint8-raw.tif'));
    const mask = new Uint8Array(source.width * source.height).map((_, i) => i % 3);
    const file = path.join(dir, 'mask.tif');
    await writeMaskGeoTiff(file, mask, source.width, source.height, source.georef, { nodata: 255 });
    await store.putFile(rasterKey, file, { contentType: 'image/tiff' });
  });

  afterAll(async () => {
    await geoserver?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const publisher = (overrides: Partial<{ url: string; password: string }> = {}) =>
    new GeoServerPublisher(
      { url: overrides.url ?? geoserver.url, user: 'admin', password: overrides.password ?? 's3cret', timeoutMs: 5000 },
      store,
    );

  it('publishes workspace, GeoTIFF, class style and default style, and does it again without errors', async () => {
    const first = await publisher().publish(request);
    expect(first).toMatchObject({
      publisher: 'geoserver',
      workspace: 'geo_inference',
      layer_name: 'csmask_task-1',
      store: 'csmask_task-1',
      style: 'csmask_style',
      raster_key: rasterKey,
    });
    const wms = new URL(first.wms_url!);
    expect(`${wms.origin}${wms.pathname}`).toBe(`${geoserver.url}/geo_inference/wms`);
    expect(Object.fromEntries(wms.searchParams)).toMatchObject({
      service: 'WMS',
      request: 'GetMap',
      layers: 'geo_inference:csmask_task-1',
      styles: 'csmask_style',
      format: 'image/png',
    });
    expect(wms.searchParams.get('srs')).toMatch(/^EPSG:\d+$/);
    expect(wms.searchParams.get('bbox')!.split(',').map(Number).every(Number.isFinite)).toBe(true);

    const second = await publisher().publish(request);
    expect(second).toEqual(first);
    // Second run met existing resources: 409 workspace, 200 file replace, 403 style -> PUT 200.
    const calls = geoserver.requests.map((r) => `${r.method} ${r.path.replace('/geoserver', '')} ${r.status}`);
    expect(calls).toEqual([
      'POST /rest/workspaces 201',
      'PUT /rest/workspaces/geo_inference/coveragestores/csmask_task-1/file.geotiff 201',
      'POST /rest/workspaces/geo_inference/styles 201',
      'PUT /rest/layers/geo_inference:csmask_task-1 200',
      'POST /rest/workspaces 409',
      'PUT /rest/workspaces/geo_inference/coveragestores/csmask_task-1/file.geotiff 200',
      'POST /rest/workspaces/geo_inference/styles 403',
      'PUT /rest/workspaces/geo_inference/styles/csmask_style 200',
      'PUT /rest/layers/geo_inference:csmask_task-1 200',
    ]);
    const stored = geoserver.stores.get('geo_inference:csmask_task-1')!;
    expect(stored.coverage).toBe('csmask_task-1');
    expect(stored.bytes.equals(await store.getObject(rasterKey))).toBe(true);
    expect(geoserver.layers.get('geo_inference:csmask_task-1')).toEqual({
      defaultStyle: { name: 'csmask_style', workspace: 'geo_inference' },
    });
  });

  it('stores an SLD whose RasterSymbolizer ColorMap (type values) carries the classes and a transparent nodata', async () => {
    const response = await fetch(`${geoserver.url}/rest/workspaces/geo_inference/styles/csmask_style.sld`, {
      headers: { Authorization: `Basic ${Buffer.from('admin:s3cret').toString('base64')}` },
    });
    expect(response.status).toBe(200);
    const sld = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'ColorMapEntry' }).parse(
      await response.text(),
    );
    const layer = sld.StyledLayerDescriptor.NamedLayer;
    expect(layer.Name).toBe('csmask_style');
    const colorMap = layer.UserStyle.FeatureTypeStyle.Rule.RasterSymbolizer.ColorMap;
    expect(colorMap['@_type']).toBe('values');
    expect(
      colorMap.ColorMapEntry.map((e: Record<string, string>) => [
        e['@_quantity'],
        e['@_color'],
        e['@_label'],
        e['@_opacity'],
      ]),
    ).toEqual([
      ['0', '#2b83ba', 'clear', '1'],
      ['1', '#ffffff', 'cloud & haze <thick>', '1'],
      ['2', '#4daf4a', 'cloud_shadow', '1'],
      ['255', '#000000', 'nodata', '0'],
    ]);
  });

  it('reports wrong credentials as a non-retryable failure that says so', async () => {
    const error = await publisher({ password: 'wrong' })
      .publish(request)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailure);
    expect((error as StepFailure).nonRetryable).toBe(true);
    expect((error as StepFailure).message).toMatch(/wrong GeoServer credentials.*401.*"admin"/);
  });

  it('reports an unreachable GeoServer as a retryable failure naming the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}/geoserver`;
    const error = await publisher({ url })
      .publish(request)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailure);
    expect((error as StepFailure).nonRetryable).toBe(false);
    expect((error as StepFailure).message).toContain(`GeoServer at ${url} is unreachable`);
    expect((error as StepFailure).message).toMatch(/ECONNREFUSED/);
  });

  it('passes GeoServer status and text body on: 5xx retryable, other 4xx not', async () => {
    geoserver.failNext('PUT', /file\.geotiff$/, 500, 'Error occurred unzipping file');
    const serverError = (await publisher()
      .publish(request)
      .catch((e: unknown) => e)) as StepFailure;
    expect(serverError.nonRetryable).toBe(false);
    expect(serverError.message).toBe(
      'GeoServer PUT /rest/workspaces/geo_inference/coveragestores/csmask_task-1/file.geotiff?coverageName=csmask_task-1 answered 500 Internal Server Error: Error occurred unzipping file',
    );
    geoserver.failNext('PUT', /^\/rest\/layers\//, 400, 'Invalid style reference');
    const badRequest = (await publisher()
      .publish(request)
      .catch((e: unknown) => e)) as StepFailure;
    expect(badRequest.nonRetryable).toBe(true);
    expect(badRequest.message).toMatch(/answered 400 Bad Request: Invalid style reference$/);
  });

  it('behaves like GeoServer where the publisher must avoid it: POST of an existing store is a 500', async () => {
    const auth = { Authorization: `Basic ${Buffer.from('admin:s3cret').toString('base64')}` };
    const duplicate = await fetch(`${geoserver.url}/rest/workspaces/geo_inference/coveragestores`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ coverageStore: { name: 'csmask_task-1' } }),
    });
    expect(duplicate.status).toBe(500);
    expect(await duplicate.text()).toBe("Store 'csmask_task-1' already exists in workspace 'geo_inference'");
    const anonymous = await fetch(`${geoserver.url}/rest/workspaces`, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(401);
  });

  it('rejects names GeoServer cannot take, before any call', async () => {
    const error = (await publisher()
      .publish({ ...request, geoserverPush: { workspace: 'geo inference' } })
      .catch((e: unknown) => e)) as StepFailure;
    expect(error.nonRetryable).toBe(true);
    expect(error.message).toMatch(/workspace name "geo inference" may only contain/);
  });
});
