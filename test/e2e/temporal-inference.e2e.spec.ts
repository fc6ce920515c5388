import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiClient } from '../support/api-client';
import { runPython } from '../support/python';
import { startTestStack, USERS, type TestStack } from '../support/stack';
import { startRangeFileServer, startStacDouble, type StacDouble } from '../support/stac-double';
import { s2Item } from '../support/stac-fixtures';
import { storageKeys } from '../../src/platform/storage/keys';

const TILE = 32;
const MEAN = [500, 250];
const STD = [2, 4];

/** A spec of the brightest-frame models: red and nir, exact normalisation (halves and quarters), one class per frame. */
function brightestSpec(temporal: Record<string, unknown>) {
  return {
    bands: [{ name: 'red' }, { name: 'nir' }],
    normalization: { mean: MEAN, std: STD },
    tile_size: TILE,
    tile_overlap: 0,
    tile_blending: 'center',
    resolution: 10,
    classes: [0, 1, 2].map((value) => ({ value, name: `frame ${value}` })),
    temporal,
  };
}

const TEMPORAL = { num_steps: 3, temporal_step: 10, temporal_tolerance: 3 };

/**
 * Time series models end to end (issue 14 item 1): ONNX models built with `onnx` whose class is the index of the
 * brightest frame, compared pixel-exactly with numpy on the stored input; frames chosen from a STAC double serving
 * a time series with chosen dates and cloud covers; URL series, a time-major single file and a grid mismatch.
 */
describe('time series models (temporal inputs)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let files: Awaited<ReturnType<typeof startRangeFileServer>>;
  let double: StacDouble;
  let dir: string;
  let modelDir: string;
  let workDir: string;
  let chipBbox: [number, number, number, number];
  const name = (suffix: string) => `temporal-${suffix}-${process.pid}`;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-temporal-cogs-'));
    modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-temporal-models-'));
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-temporal-work-'));
    const made = JSON.parse(
      (await runPython('test/fixtures/make_stac_cogs.py', [dir, '--series', '9', '--size', '128']))
        .trim()
        .split('\n')
        .pop()!,
    ) as { series_bbox: [number, number, number, number]; chip_bbox: [number, number, number, number] };
    chipBbox = made.chip_bbox;
    await runPython('test/fixtures/make_temporal_models.py', [modelDir, '--tile', String(TILE)]);
    files = await startRangeFileServer(dir);
    const item = (id: string, datetime: string, cloudCover: number, frame: number) =>
      s2Item(id, {
        bbox: made.series_bbox,
        datetime,
        cloudCover,
        assetUrl: (asset) => files.url(`frame${frame}_${asset}`), // s2Item names assets <name>.tif
      });
    // Date 2024-06-30, step 10, tolerance 3: targets 06-10, 06-20, 06-30.
    double = await startStacDouble([
      item('F0_EDGE', '2024-06-13T10:00:00Z', 5, 0), // +3 days: inside the tolerance
      item('F0_OUTSIDE', '2024-06-14T10:00:00Z', 0, 1), // +4 days: just outside (picked with tolerance 4)
      item('F1_CLOUDY_CLOSE', '2024-06-20T10:00:00Z', 40, 2), // on the target date, cloudier
      item('F1_CLEAR_FAR', '2024-06-22T10:00:00Z', 2, 3), // 2 days off, clear: picked
      item('F2', '2024-06-30T10:00:00Z', 10, 4),
      item('F2_TIE_FAR', '2024-07-02T10:00:00Z', 10, 5), // as cloudy as F2, further: not picked
      item('F2_TOO_CLOUDY', '2024-06-29T10:00:00Z', 80, 5), // over maxcc
      // Date 2024-08-30: only its newest frame has a scene (08-10 and 08-20 have none).
      item('G2', '2024-08-30T10:00:00Z', 0, 6),
      // Date 2025-01-05 across the new year: 2024-12-16 (doy 351), 2024-12-26 (361), 2025-01-05 (5).
      item('H0', '2024-12-16T10:00:00Z', 1, 6),
      item('H1', '2024-12-26T10:00:00Z', 1, 7),
      item('H2', '2025-01-05T10:00:00Z', 1, 8),
    ]);
    stack = await startTestStack({ storage: 'minio', env: { STAC_API_URL: double.url, HLS_STAC_API_URL: double.url } });
    api = new ApiClient(stack.baseUrl);
    const register = async (suffix: string, file: string, temporal: Record<string, unknown>) => {
      const response = await api.registerModel(
        { display_name: name(suffix), model_input_data_spec: brightestSpec(temporal) },
        path.join(modelDir, file),
      );
      expect(response.status).toBe(201);
    };
    await register('bcthw', 'bcthw_brightest.onnx', { ...TEMPORAL, layout: 'BCTHW' });
    await register('btchw', 'btchw_brightest.onnx', { ...TEMPORAL, layout: 'BTCHW' });
    await register('folded', 'folded_brightest.onnx', { ...TEMPORAL, layout: 'B(TC)HW' });
    await register('dates', 'bcthw_dates.onnx', {
      ...TEMPORAL,
      layout: 'BCTHW',
      dates_input: { name: 'dates', encoding: 'year_doy' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await double?.close();
    await files?.close();
    for (const folder of [dir, modelDir, workDir]) if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  async function tasksOf(id: string) {
    return (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks as any[];
  }

  async function download(key: string, file: string): Promise<string> {
    const target = path.join(workDir, file);
    await stack.store.downloadToFile(key, target);
    return target;
  }

  /** The task's output against numpy's brightest frame on the task's stored (time-major) input. */
  async function compareWithNumpy(task: any) {
    const input = await download(task.outputs['terrakit-data-fetch'].inputKey, `${task.task_id}-input.tif`);
    const output = await download(task.outputs['model-inference'].outputKey, `${task.task_id}-output.tif`);
    const stdout = await runPython('test/support/temporal_reference.py', [
      input,
      output,
      '--bands',
      '2',
      '--mean',
      MEAN.join(','),
      '--std',
      STD.join(','),
    ]);
    return JSON.parse(stdout.trim().split('\n').pop()!) as {
      frames: number;
      total: number;
      equal: number;
      same_shape: boolean;
      expected_classes: Record<string, number>;
      actual_classes: Record<string, number>;
    };
  }

  describe('registration checks the graph against the temporal spec', () => {
    const attempt = (file: string, temporal: Record<string, unknown>) =>
      api.registerModel(
        { display_name: name(`bad-${Math.random()}`), model_input_data_spec: brightestSpec(temporal) },
        path.join(modelDir, file),
      );

    it('a 4-D graph declared BCTHW: 422 naming temporal.layout', async () => {
      const response = await attempt('folded_brightest.onnx', { ...TEMPORAL, layout: 'BCTHW' });
      expect(response.status).toBe(422);
      expect(response.body.field).toBe('model_input_data_spec.temporal.layout');
    });

    it('a folded graph of 6 channels with num_steps 4: 422 naming temporal.num_steps', async () => {
      const response = await attempt('folded_brightest.onnx', { ...TEMPORAL, num_steps: 4, layout: 'B(TC)HW' });
      expect(response.status).toBe(422);
      expect(response.body.field).toBe('model_input_data_spec.temporal.num_steps');
    });

    it('a [N, 3, 2, H, W] graph declared BCTHW (3 on the C axis, 2 bands): 422 naming bands', async () => {
      const response = await attempt('btchw_brightest.onnx', { ...TEMPORAL, layout: 'BCTHW' });
      expect(response.status).toBe(422);
      expect(response.body.field).toBe('model_input_data_spec.bands');
    });

    it('a graph with a date input the spec does not declare: 422 naming temporal.dates_input', async () => {
      const response = await attempt('bcthw_dates.onnx', { ...TEMPORAL, layout: 'BCTHW' });
      expect(response.status).toBe(422);
      expect(response.body.field).toBe('model_input_data_spec.temporal.dates_input');
    });

    it('a date input under another name: 422 naming dates_input.name', async () => {
      const response = await attempt('bcthw_dates.onnx', {
        ...TEMPORAL,
        layout: 'BCTHW',
        dates_input: { name: 'times', encoding: 'year_doy' },
      });
      expect(response.status).toBe(422);
      expect(response.body.field).toBe('model_input_data_spec.temporal.dates_input.name');
    });
  });

  describe('request overrides within what the model accepts', () => {
    it('num_steps other than the fixed T of the graph: 422 naming temporal.num_steps', async () => {
      const response = await api.post('/api/v2/inference', {
        model_display_name: name('folded'),
        spatial_domain: { bbox: [chipBbox] },
        temporal_domain: ['2024-06-30'],
        temporal: { num_steps: 4 },
      });
      expect(response.status).toBe(422);
      expect(response.body.field).toBe('temporal.num_steps');
    });

    it('num_steps 2 on a single-date model: 422 naming temporal.num_steps; bad values: 400 naming the field', async () => {
      const single = await api.registerModel(
        {
          display_name: name('single'),
          model_input_data_spec: {
            bands: [{ name: 'red' }, { name: 'green' }, { name: 'blue' }],
            tile_size: 8,
            tile_overlap: 0,
            classes: [0, 1, 2].map((value) => ({ value, name: `c${value}` })),
          },
        },
        path.resolve(__dirname, '../fixtures/tiny_identity.onnx'),
      );
      expect(single.status).toBe(201);
      const response = await api.post('/api/v2/inference', {
        model_display_name: name('single'),
        spatial_domain: { bbox: [chipBbox] },
        temporal_domain: ['2024-06-30'],
        temporal: { num_steps: 2 },
      });
      expect(response.status).toBe(422);
      expect(response.body.field).toBe('temporal.num_steps');
      const series = await api.post('/api/v2/inference', {
        model_display_name: name('single'),
        spatial_domain: { urls: [[files.url('url_frame0.tif'), files.url('url_frame1.tif')]] },
        temporal_domain: [],
      });
      expect(series.status).toBe(422);
      expect(series.body.field).toBe('spatial_domain.urls.0');
      for (const [temporal, field] of [
        [{ num_steps: 0 }, 'temporal.num_steps'],
        [{ temporal_step: 0 }, 'temporal.temporal_step'],
        [{ temporal_tolerance: -1 }, 'temporal.temporal_tolerance'],
        [{ temporal_tolerance: 1.5 }, 'temporal.temporal_tolerance'],
      ] as const) {
        const bad = await api.post('/api/v2/inference', {
          model_display_name: name('bcthw'),
          spatial_domain: { bbox: [chipBbox] },
          temporal_domain: ['2024-06-30'],
          temporal,
        });
        expect(bad.status).toBe(400);
        expect(JSON.stringify(bad.body)).toContain(field);
      }
    });
  });

  it('areas x dates: one stack per task from the least cloudy scene within tolerance of each target date; a missing step fails only its task', async () => {
    const body = {
      model_display_name: name('bcthw'),
      spatial_domain: { bbox: [chipBbox] },
      temporal_domain: ['2024-06-30', '2024-08-30'],
      maxcc: 50,
    };
    const dry = await api.post('/api/v2/inference/dry-run', body);
    expect(dry.status).toBe(200);
    expect(dry.body.tasks[0].frames.map((frame: any) => [frame.target_date, frame.scene?.item_id])).toEqual([
      ['2024-06-10', 'F0_EDGE'],
      ['2024-06-20', 'F1_CLEAR_FAR'],
      ['2024-06-30', 'F2'],
    ]);
    expect(dry.body.tasks[1]).toMatchObject({ available: false });
    expect(dry.body.tasks[1].reason).toMatch(/target date 2024-08-10/);

    const created = await api.post('/api/v2/inference', body);
    expect(created.status).toBe(201);
    const finished = await api.waitForInference(created.body.id);
    expect(finished).toMatchObject({ tasks_count_success: 1, tasks_count_failed: 1 });
    const [done, failed] = await tasksOf(created.body.id);

    const fetched = done.outputs['terrakit-data-fetch'];
    expect(fetched.frames).toEqual([
      expect.objectContaining({
        target_date: '2024-06-10',
        item_id: 'F0_EDGE',
        datetime: '2024-06-13T10:00:00Z',
        cloud_cover: 5,
      }),
      expect.objectContaining({
        target_date: '2024-06-20',
        item_id: 'F1_CLEAR_FAR',
        datetime: '2024-06-22T10:00:00Z',
        cloud_cover: 2,
      }),
      expect.objectContaining({
        target_date: '2024-06-30',
        item_id: 'F2',
        datetime: '2024-06-30T10:00:00Z',
        cloud_cover: 10,
      }),
    ]);
    expect(fetched.bands).toBe(6);
    const compared = await compareWithNumpy(done);
    expect(compared).toMatchObject({ frames: 3, same_shape: true });
    expect(compared.equal).toBe(compared.total);
    // Random frames: every frame is the brightest somewhere.
    expect(Object.keys(compared.expected_classes).sort()).toEqual(['0', '1', '2']);

    expect(failed.pipeline_steps[0]).toMatchObject({ process_id: 'terrakit-data-fetch', status: 'FAILED' });
    expect(failed.pipeline_steps[0].message).toMatch(
      /frame 1 of 3: no .* within \+\/- 3 day\(s\) of target date 2024-08-10 with cloud cover <= maxcc 50%/,
    );

    // STAC provenance: every frame's source item, the Item spanning their dates.
    const key = storageKeys.stacItem(created.body.id, done.task_id);
    {
      const item = JSON.parse((await stack.store.getObject(key)).toString('utf8'));
      expect(item.properties.start_datetime).toBe('2024-06-13T10:00:00Z');
      expect(item.properties.end_datetime).toBe('2024-06-30T10:00:00Z');
      expect(item.properties['geo_inference:provenance'].sources.map((source: any) => source.item_id)).toEqual([
        'F0_EDGE',
        'F1_CLEAR_FAR',
        'F2',
      ]);
    }
  });

  it('cloud masking uses the newest frame: the chip keeps one classification band per frame', async () => {
    const created = await api.post('/api/v2/inference', {
      model_display_name: name('bcthw'),
      spatial_domain: { bbox: [chipBbox] },
      temporal_domain: ['2024-06-30'],
      maxcc: 50,
      post_processing: { cloud_masking: true },
    });
    expect(created.status).toBe(201);
    expect(await api.waitForInference(created.body.id)).toMatchObject({ status: 'COMPLETED' });
    const [task] = await tasksOf(created.body.id);
    const fetched = task.outputs['terrakit-data-fetch'];
    const classification = await download(fetched.classification_key, `${task.task_id}-scl.tif`);
    const output = await download(task.outputs['model-inference'].outputKey, `${task.task_id}-masked.tif`);
    const counts = JSON.parse(
      (
        await runPython('test/support/temporal_reference.py', [
          '--classification',
          classification,
          output,
          '--bands',
          '1',
          '--mean',
          '0',
          '--std',
          '1',
        ])
      )
        .trim()
        .split('\n')
        .pop()!,
    );
    // Frames F0_EDGE (file 0: clouds south-east), F1_CLEAR_FAR (none), F2 (file 4: clouds north-west).
    expect(counts.cloudy_per_band[0]).toBeGreaterThan(0);
    expect(counts.cloudy_per_band[1]).toBe(0);
    expect(counts.cloudy_per_band[2]).toBeGreaterThan(0);
    expect(counts.masked_where_newest_cloudy).toBe(counts.cloudy_per_band[2]);
    expect(counts.output_nodata).toBe(counts.cloudy_per_band[2]);
    expect(task.outputs['model-inference'].post_processing.cloud_masking).toBe(counts.cloudy_per_band[2]);
  });

  it('a request widening temporal_tolerance picks the scene just outside the model tolerance; BTCHW matches numpy', async () => {
    const created = await api.post('/api/v2/inference', {
      model_display_name: name('btchw'),
      spatial_domain: { bbox: [chipBbox] },
      temporal_domain: ['2024-06-30'],
      maxcc: 50,
      temporal: { temporal_tolerance: 4 },
    });
    expect(created.status).toBe(201);
    expect(await api.waitForInference(created.body.id)).toMatchObject({ status: 'COMPLETED' });
    const [task] = await tasksOf(created.body.id);
    expect(task.outputs['terrakit-data-fetch'].frames.map((frame: any) => frame.item_id)).toEqual([
      'F0_OUTSIDE',
      'F1_CLEAR_FAR',
      'F2',
    ]);
    const compared = await compareWithNumpy(task);
    expect(compared.equal).toBe(compared.total);
  });

  it("a model taking the frames' dates gets year and day of year of each frame (across the new year)", async () => {
    const created = await api.post('/api/v2/inference', {
      model_display_name: name('dates'),
      spatial_domain: { bbox: [chipBbox] },
      temporal_domain: ['2025-01-05'],
    });
    expect(created.status).toBe(201);
    expect(await api.waitForInference(created.body.id)).toMatchObject({ status: 'COMPLETED' });
    const [task] = await tasksOf(created.body.id);
    expect(task.outputs['terrakit-data-fetch'].frames.map((frame: any) => frame.item_id)).toEqual(['H0', 'H1', 'H2']);
    // Logit t = day of year of frame t: 351, 361, 5 -> class 1 everywhere.
    expect(task.outputs['model-inference'].class_pixel_counts).toEqual({
      'frame 1': task.outputs['model-inference'].width * task.outputs['model-inference'].height,
    });
  });

  it('URL inputs: a list of GeoTIFFs (oldest first) and one time-major GeoTIFF give the same stack; a grid mismatch names both files', async () => {
    const frames = [0, 1, 2].map((k) => files.url(`url_frame${k}.tif`));
    const created = await api.post('/api/v2/inference', {
      model_display_name: name('folded'),
      spatial_domain: {
        urls: [frames, files.url('url_stack.tif'), [frames[0], files.url('url_shifted.tif'), frames[2]]],
      },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    const finished = await api.waitForInference(created.body.id);
    expect(finished).toMatchObject({ tasks_count_success: 2, tasks_count_failed: 1 });
    const [series, single, mismatched] = await tasksOf(created.body.id);
    const fromSeries = await compareWithNumpy(series);
    expect(fromSeries).toMatchObject({ frames: 3, same_shape: true, total: 1600 });
    expect(fromSeries.equal).toBe(fromSeries.total);
    const fromSingle = await compareWithNumpy(single);
    expect(fromSingle.equal).toBe(fromSingle.total);
    expect(fromSingle.actual_classes).toEqual(fromSeries.actual_classes);
    expect(mismatched.pipeline_steps[0]).toMatchObject({ process_id: 'terrakit-data-fetch', status: 'FAILED' });
    expect(mismatched.pipeline_steps[0].message).toMatch(/url_shifted\.tif is not on the grid of .*url_frame0\.tif/);
  });

  it('bulk upload: the files a `series` entry names form one task in that order; the others are a task each', async () => {
    const form = new FormData();
    form.append(
      'inference',
      JSON.stringify({ model_display_name: name('folded'), series: [['t0.tif', 't1.tif', 't2.tif']] }),
    );
    // Uploaded out of order: the series entry sets the frame order.
    for (const [upload, source] of [
      ['t2.tif', 'url_frame2.tif'],
      ['stack.tif', 'url_stack.tif'],
      ['t0.tif', 'url_frame0.tif'],
      ['t1.tif', 'url_frame1.tif'],
    ])
      form.append('files', new Blob([fs.readFileSync(path.join(dir, source))]), upload);
    const response = await fetch(`${stack.baseUrl}/api/v2/inference/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${USERS.alice.key}` },
      body: form,
    });
    const created = (await response.json()) as any;
    expect(response.status).toBe(201);
    expect(await api.waitForInference(created.id)).toMatchObject({ status: 'COMPLETED', tasks_count_success: 2 });
    const [series, single] = await tasksOf(created.id);
    expect(series.input.frames.map((frame: any) => frame.file_name)).toEqual(['t0.tif', 't1.tif', 't2.tif']);
    expect(single.input).toMatchObject({ kind: 'object', file_name: 'stack.tif' });
    const fromSeries = await compareWithNumpy(series);
    expect(fromSeries.equal).toBe(fromSeries.total);
    expect((await compareWithNumpy(single)).actual_classes).toEqual(fromSeries.actual_classes);

    const unknown = new FormData();
    unknown.append(
      'inference',
      JSON.stringify({ model_display_name: name('folded'), series: [['t0.tif', 'nope.tif']] }),
    );
    unknown.append('files', new Blob([fs.readFileSync(path.join(dir, 'url_frame0.tif'))]), 't0.tif');
    const refused = await fetch(`${stack.baseUrl}/api/v2/inference/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${USERS.alice.key}` },
      body: unknown,
    });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as any).field).toBe('inference.series.0.1');
  });
});
