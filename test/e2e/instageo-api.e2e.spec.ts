import * as fs from 'node:fs';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { demoModelPaths } from '../support/services';
import { startTestStack, USERS, type TestStack } from '../support/stack';
import { startRangeFileServer, startStacDouble, type StacDouble } from '../support/stac-double';
import { hlsItem, makeStacFixtures, s2Item, type StacFixtures } from '../support/stac-fixtures';

/**
 * The InstaGeo task API (seed 003) over the v2 inferences: POST /api/run-model with the seed's body, GET
 * /api/task/{id} and GET /api/tasks, against the STAC double and the demo model registered with a model_type.
 */
describe('InstaGeo task API (POST /api/run-model, GET /api/task/{id}, GET /api/tasks)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: StacFixtures;
  let files: Awaited<ReturnType<typeof startRangeFileServer>>;
  let double: StacDouble;
  const modelType = `cloud_mask_${Date.now()}`;
  let modelId: string;

  /** The seed's example body on the fixture area and date (num_steps 1 until time series land). */
  const seedBody = () => ({
    bboxes: [fixtures.chipBbox],
    model_type: modelType,
    date: '2024-06-15',
    chip_size: 256,
    cloud_coverage: 30,
    num_steps: 1,
    data_source: 'S2',
    temporal_step: 10,
    temporal_tolerance: 3,
  });

  beforeAll(async () => {
    fixtures = await makeStacFixtures();
    files = await startRangeFileServer(fixtures.dir);
    double = await startStacDouble([
      s2Item('S2B_33UXP_20240615_1_L2A_best', {
        bbox: fixtures.sceneBbox,
        datetime: '2024-06-15T10:10:00Z',
        cloudCover: 8,
        assetUrl: files.url,
      }),
      hlsItem('HLS.S30.T33UXP.2024167T100031.v2.0', {
        bbox: fixtures.sceneBbox,
        datetime: '2024-06-15T10:00:31Z',
        cloudCover: 12,
        assetUrl: files.url,
      }),
    ]);
    stack = await startTestStack({
      storage: 'minio',
      env: { STAC_API_URL: double.url, HLS_STAC_API_URL: double.url },
    });
    api = new ApiClient(stack.baseUrl);
    const { model, meta } = demoModelPaths();
    const registered = await api.registerModel(
      { ...demoModelMetadata(meta, `instageo-${Date.now()}`), model_type: modelType },
      model,
    );
    expect(registered.status).toBe(201);
    expect(registered.body.model_type).toBe(modelType);
    modelId = registered.body.id;
  });

  afterAll(async () => {
    await stack?.stop();
    await double?.close();
    await files?.close();
    if (fixtures) fs.rmSync(fixtures.dir, { recursive: true, force: true });
    if (fixtures) fs.rmSync(fixtures.waterPath, { force: true });
  });

  async function waitForTask(id: string, timeoutMs = 180_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await api.get(`/api/task/${id}`);
      expect(response.status).toBe(200);
      if (['completed', 'failed'].includes(response.body.status)) return response.body;
      expect(['data_processing', 'model_prediction']).toContain(response.body.status);
      if (Date.now() > deadline) throw new Error(`task ${id} still ${response.body.status}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  it("the seed's body runs end to end: one inference, one task per bbox, stages with times; listed by GET /api/tasks", async () => {
    const before = double.requests.length;
    const created = await api.post('/api/run-model', seedBody());
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      task_id: expect.any(String),
      status: 'data_processing',
      model_type: modelType,
      model_id: modelId,
      bbox_count: 1,
      parameters: { date: '2024-06-15', cloud_coverage: 30, data_source: 'S2', num_steps: 1 },
    });
    expect(created.body.stages.map((stage: any) => stage.name)).toEqual(['data_processing', 'model_prediction']);

    const done = await waitForTask(created.body.task_id);
    expect(done.status).toBe('completed');
    expect(done.error).toBeNull();
    for (const stage of done.stages) {
      expect(stage).toMatchObject({ status: 'completed', error: null });
      expect(Date.parse(stage.started)).toBeLessThanOrEqual(Date.parse(stage.finished));
    }
    expect(Date.parse(done.stages[0].finished)).toBeLessThanOrEqual(Date.parse(done.stages[1].started));
    expect(done.bbox_results).toEqual([
      expect.objectContaining({ bbox: fixtures.chipBbox, status: 'FINISHED', output_key: expect.any(String) }),
    ]);

    // The same workflow as /api/v2: the inference has the bbox on the date, maxcc = cloud_coverage, Sentinel-2 L2A.
    const inference = await api.get(`/api/v2/inference/${created.body.task_id}`);
    expect(inference.body).toMatchObject({
      status: 'COMPLETED',
      model_id: modelId,
      spatial_domain: { bbox: [fixtures.chipBbox] },
      temporal_domain: ['2024-06-15'],
      maxcc: 30,
      tasks_count_total: 1,
    });
    expect(double.requests[before]).toMatchObject({
      collections: ['sentinel-2-l2a'],
      query: { 'eo:cloud_cover': { lte: 30 } },
    });

    const list = await api.get('/api/tasks');
    expect(list.status).toBe(200);
    const listed = list.body.tasks.find((task: any) => task.task_id === created.body.task_id);
    expect(listed).toMatchObject({
      status: 'completed',
      bbox_count: 1,
      model_type: modelType,
      created_at: created.body.created_at,
    });
    expect(listed.stages).toEqual(done.stages);

    // Per-user visibility: bob neither reads nor lists alice's task.
    const bob = api.as(USERS.bob.key);
    expect((await bob.get(`/api/task/${created.body.task_id}`)).status).toBe(404);
    expect((await bob.get('/api/tasks')).body.tasks.map((task: any) => task.task_id)).not.toContain(
      created.body.task_id,
    );
    expect((await api.as(undefined).get('/api/tasks')).status).toBe(401);
  });

  it('data_source HLS searches the HLS collections; a bbox with no scene fails its data_processing stage', async () => {
    const before = double.requests.length;
    const [minX, minY] = fixtures.sceneBbox;
    const outside = [minX - 3, minY - 3, minX - 2.99, minY - 2.99];
    const created = await api.post('/api/run-model', {
      ...seedBody(),
      bboxes: [fixtures.chipBbox, outside],
      data_source: 'HLS',
    });
    expect(created.status).toBe(201);
    const done = await waitForTask(created.body.task_id);
    expect(double.requests[before].collections).toEqual(['HLSS30_2.0', 'HLSL30_2.0']);
    expect(done).toMatchObject({ status: 'failed', bbox_count: 2 });
    expect(done.stages[0]).toMatchObject({ name: 'data_processing', status: 'failed' });
    expect(done.stages[0].error).toMatch(/bbox 1: terrakit-data-fetch: no HLS scene/);
    expect(done.error).toMatch(/no HLS scene/);
    expect(done.bbox_results.map((result: any) => result.status)).toEqual(['FINISHED', 'FAILED']);
  });

  it('model_type picks the latest READY version visible to the user, and PATCH sets it', async () => {
    const { model, meta } = demoModelPaths();
    const name = `instageo-versions-${Date.now()}`;
    const type = `${modelType}_v`;
    const first = await api.registerModel({ ...demoModelMetadata(meta, name), model_type: type }, model);
    const second = await api.registerModel(demoModelMetadata(meta, name), model);
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.body.version).toBe(2);
    const picked = async () => (await api.post('/api/run-model', { ...seedBody(), model_type: type })).body;
    expect((await picked()).model_id).toBe(first.body.id);
    const patched = await api.request('PATCH', `/api/v2/models/${second.body.id}`, { model_type: type });
    expect(patched.status).toBe(200);
    expect(patched.body.model_type).toBe(type);
    expect((await picked()).model_id).toBe(second.body.id);
    // Bob does not see alice's private models: for him the type is unknown.
    const bob = await api.as(USERS.bob.key).post('/api/run-model', { ...seedBody(), model_type: type });
    expect(bob.status).toBe(400);
    expect(bob.body.field).toBe('model_type');
    expect((await api.request('PATCH', `/api/v2/models/${second.body.id}`, { model_type: 'bad type!' })).status).toBe(
      400,
    );
  });

  it('every bad field of the body is a 400 naming it', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['missing bboxes', { bboxes: undefined }, 'bboxes'],
      ['empty bboxes', { bboxes: [] }, 'bboxes'],
      ['bbox of 3 numbers', { bboxes: [[1, 2, 3]] }, 'bboxes.0'],
      ['bbox min > max', { bboxes: [fixtures.chipBbox, [10, 10, 5, 12]] }, 'bboxes.1'],
      ['bbox outside WGS84', { bboxes: [[10, 10, 200, 12]] }, 'bboxes.0'],
      ['bbox of strings', { bboxes: [['1', '2', '3', '4']] }, 'bboxes.0.0'],
      ['missing model_type', { model_type: undefined }, 'model_type'],
      ['model_type a number', { model_type: 7 }, 'model_type'],
      ['unknown model_type', { model_type: 'no_such_model' }, 'model_type'],
      ['missing date', { date: undefined }, 'date'],
      ['date not a date', { date: '2024-13-45' }, 'date'],
      ['date with a time', { date: '2024-06-15T00:00:00Z' }, 'date'],
      ['chip_size a string', { chip_size: '256' }, 'chip_size'],
      ['chip_size not whole', { chip_size: 25.5 }, 'chip_size'],
      ['cloud_coverage over 100', { cloud_coverage: 101 }, 'cloud_coverage'],
      ['cloud_coverage negative', { cloud_coverage: -1 }, 'cloud_coverage'],
      ['num_steps 0', { num_steps: 0 }, 'num_steps'],
      ['num_steps a string', { num_steps: 'five' }, 'num_steps'],
      ['bad data_source', { data_source: 'landsat' }, 'data_source'],
      ['lower-case data_source', { data_source: 's2' }, 'data_source'],
      ['temporal_step 0', { temporal_step: 0 }, 'temporal_step'],
      ['temporal_tolerance negative', { temporal_tolerance: -3 }, 'temporal_tolerance'],
      ['an unknown field', { model: 'x' }, 'model'],
    ];
    for (const [label, change, field] of cases) {
      const response = await api.post('/api/run-model', { ...seedBody(), ...change });
      expect({ label, status: response.status, field: response.body.field }).toEqual({ label, status: 400, field });
      expect(response.body.message).toMatch(new RegExp(`^${field.replace(/\./g, '\\.')}: `));
    }
    const notJson = await api.post('/api/run-model', '[1, 2]');
    expect(notJson.status).toBe(400);
    expect((await api.get('/api/task/not-a-uuid')).body).toMatchObject({ statusCode: 400, field: 'task_id' });
    expect((await api.get('/api/task/6f1c2b1e-3f0a-4c1e-9a57-2d6c3e8b9f10')).status).toBe(404);
    expect((await api.get('/api/tasks?limit=0')).body).toMatchObject({ statusCode: 400, field: 'limit' });
  });
});
