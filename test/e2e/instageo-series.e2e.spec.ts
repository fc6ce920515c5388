import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApiClient } from '../support/api-client';
import { runPython } from '../support/python';
import { startTestStack, type TestStack } from '../support/stack';
import { startRangeFileServer, startStacDouble, type StacDouble } from '../support/stac-double';
import { s2Item } from '../support/stac-fixtures';

type Bbox = [number, number, number, number];

/**
 * The InstaGeo task API (seed 003) with the seed's exact example body end to end: 3 bboxes, model_type
 * aod_estimation, date 2024-06-01, chip_size 256, cloud_coverage 15, num_steps 5, data_source S2, temporal_step 10,
 * temporal_tolerance 3, on a time series regression model (y = mean of band 0 over the 5 frames, BCTHW, dynamic
 * H/W) built with `onnx`; frames chosen by the STAC double's dates and cloud covers; the output against numpy.
 */
describe('InstaGeo task API with the seed example body (time series regression, 3 bboxes)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let files: Awaited<ReturnType<typeof startRangeFileServer>>;
  let double: StacDouble;
  let dir: string;
  let workDir: string;
  let bboxes: Bbox[];
  let modelId: string;
  // The seed's model_type verbatim (this suite's stack has its own database).
  const modelType = 'aod_estimation';

  /** The seed's example body, verbatim but for the bboxes (small areas inside the fixture series). */
  const seedBody = () => ({
    bboxes,
    model_type: modelType,
    date: '2024-06-01',
    chip_size: 256,
    cloud_coverage: 15,
    num_steps: 5,
    data_source: 'S2',
    temporal_step: 10,
    temporal_tolerance: 3,
  });

  /** The series-mean model registered under `type`, its input checked against `inputRanges` (per band). */
  const registerAod = (name: string, type: string, inputRanges: Array<[number, number]>) =>
    api.registerModel(
      {
        display_name: name,
        model_type: type,
        model_input_data_spec: {
          bands: [{ name: 'red' }, { name: 'nir' }],
          tile_size: 64,
          tile_overlap: 0,
          resolution: 10,
          task_type: 'regression',
          output_bands: ['aod'],
          units: '1',
          rescale: [0, 1000],
          colormap: 'viridis',
          temporal: { num_steps: 5, temporal_step: 10, temporal_tolerance: 3, layout: 'BCTHW' },
          guardrails: { input_ranges: inputRanges },
        },
      },
      path.join(workDir, 'series_mean.onnx'),
    );

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-instageo-series-'));
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-instageo-work-'));
    const made = JSON.parse(
      (await runPython('test/fixtures/make_stac_cogs.py', [dir, '--series', '9', '--size', '128']))
        .trim()
        .split('\n')
        .pop()!,
    ) as { series_bbox: Bbox };
    await runPython('test/fixtures/make_series_mean_model.py', [workDir]);
    // Three areas side by side inside the series, each a few hundred to a few thousand pixels at 10 m.
    const [minX, minY, maxX, maxY] = made.series_bbox;
    const width = (maxX - minX) / 3;
    const height = maxY - minY;
    bboxes = [0, 1, 2].map((i) => [
      minX + width * (i + 0.2),
      minY + height * 0.25,
      minX + width * (i + 0.8),
      minY + height * 0.75,
    ]);
    files = await startRangeFileServer(dir);
    const item = (id: string, datetime: string, cloudCover: number, frame: number) =>
      s2Item(id, {
        bbox: made.series_bbox,
        datetime,
        cloudCover,
        assetUrl: (asset) => files.url(`frame${frame}_${asset}`),
      });
    // Date 2024-06-01, step 10 back in time, tolerance 3: targets 06-01, 05-22, 05-12, 05-02, 04-22; maxcc 15.
    double = await startStacDouble([
      item('A0_CLOUDY_CLOSE', '2024-06-01T10:00:00Z', 40, 5), // on the target date but over maxcc
      item('A0', '2024-05-30T10:00:00Z', 5, 0), // -2 days, clear: picked
      item('A1', '2024-05-24T10:00:00Z', 12, 1), // +2 days: picked
      item('A1_OUTSIDE', '2024-05-18T10:00:00Z', 0, 6), // -4 days: outside the tolerance
      item('A2', '2024-05-12T10:00:00Z', 15, 2), // exactly maxcc: picked
      item('A2_CLOUDY', '2024-05-11T10:00:00Z', 16, 7), // just over maxcc
      item('A3', '2024-04-29T10:00:00Z', 3, 3), // -3 days: the edge of the tolerance
      item('A4', '2024-04-22T10:00:00Z', 9, 4),
      item('A4_FAR', '2024-04-26T10:00:00Z', 0, 8), // +4 days: outside
    ]);
    stack = await startTestStack({ storage: 'minio', env: { STAC_API_URL: double.url, HLS_STAC_API_URL: double.url } });
    api = new ApiClient(stack.baseUrl);
    const registered = await registerAod(`instageo-aod-${process.pid}`, modelType, [
      [0, 1000],
      [0, 1000],
    ]);
    expect(registered.status).toBe(201);
    expect(registered.body.model_input_data_spec).toMatchObject({ input_size: 'dynamic' });
    modelId = registered.body.id;
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    await double?.close();
    await files?.close();
    for (const folder of [dir, workDir]) if (folder) fs.rmSync(folder, { recursive: true, force: true });
  });

  /** Polls GET /api/task/{id} until it is over: the last view and the statuses seen in order. */
  async function pollTask(id: string) {
    const seen: string[] = [];
    const deadline = Date.now() + 240_000;
    for (;;) {
      const response = await api.get(`/api/task/${id}`);
      expect(response.status).toBe(200);
      const task = response.body;
      if (seen[seen.length - 1] !== task.status) seen.push(task.status);
      if (['completed', 'failed'].includes(task.status)) return { task, seen };
      if (Date.now() > deadline) throw new Error(`task ${id} still ${task.status}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  it('runs end to end: data_processing, model_prediction, completed; 5 frames per bbox; output = numpy', async () => {
    const created = await api.post('/api/run-model', seedBody());
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      task_id: expect.any(String),
      model_type: modelType,
      model_id: modelId,
      bbox_count: 3,
      parameters: {
        date: '2024-06-01',
        chip_size: 256,
        cloud_coverage: 15,
        num_steps: 5,
        data_source: 'S2',
        temporal_step: 10,
        temporal_tolerance: 3,
      },
    });
    const id = created.body.task_id as string;

    // Poll the task through its stages; every status seen is one of the seed's.
    const { task, seen } = await pollTask(id);
    expect({ status: task.status, error: task.error }).toEqual({ status: 'completed', error: null });
    expect(seen[0]).toBe('data_processing');
    expect(seen.every((status) => ['data_processing', 'model_prediction', 'completed'].includes(status))).toBe(true);
    expect(task.stages.map((stage: any) => [stage.name, stage.status])).toEqual([
      ['data_processing', 'completed'],
      ['model_prediction', 'completed'],
    ]);
    expect(Date.parse(task.stages[0].finished)).toBeLessThanOrEqual(Date.parse(task.stages[1].finished));
    expect(task.bbox_results.map((result: any) => [result.bbox, result.status])).toEqual(
      bboxes.map((bbox) => [bbox, 'FINISHED']),
    );

    // The v2 inference behind it: the seed's parameters mapped onto maxcc, chip_size and temporal.
    const inference = await api.get(`/api/v2/inference/${id}`);
    expect(inference.body).toMatchObject({
      status: 'COMPLETED',
      model_id: modelId,
      temporal_domain: ['2024-06-01'],
      maxcc: 15,
      tasks_count_total: 3,
      tasks_count_success: 3,
    });

    // Every bbox stacks the same 5 scenes, oldest first: the least cloudy within +/- 3 days of each target date.
    const tasks = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks as any[];
    expect(tasks).toHaveLength(3);
    for (const entry of tasks) {
      const fetched = entry.outputs['terrakit-data-fetch'];
      expect(fetched.frames.map((frame: any) => [frame.target_date, frame.item_id, frame.cloud_cover])).toEqual([
        ['2024-04-22', 'A4', 9],
        ['2024-05-02', 'A3', 3],
        ['2024-05-12', 'A2', 15],
        ['2024-05-22', 'A1', 12],
        ['2024-06-01', 'A0', 5],
      ]);
      const model = entry.outputs['model-inference'];
      expect(model).toMatchObject({ task_type: 'regression', chip_size: 256, tiles: 1 });
      // The input guardrails checked all 5 frames, each named by its scene's date.
      expect(model.input_guardrails.violations).toEqual([]);
      expect(model.input_guardrails.frames.map((frame: any) => frame.date)).toEqual(
        fetched.frames.map((frame: any) => frame.datetime),
      );
    }

    // The output of every bbox against numpy on its stored 5-frame input.
    for (const entry of tasks) {
      const input = path.join(workDir, `${entry.task_id}-input.tif`);
      const output = path.join(workDir, `${entry.task_id}-output.tif`);
      await stack.store.downloadToFile(entry.outputs['terrakit-data-fetch'].inputKey, input);
      await stack.store.downloadToFile(entry.outputs['model-inference'].outputKey, output);
      const compared = JSON.parse(
        (await runPython('test/support/series_mean_reference.py', [input, output, '--bands', '2']))
          .trim()
          .split('\n')
          .pop()!,
      );
      expect(compared).toMatchObject({ frames: 5, dtype: 'float32', count: 1, same_grid: true, nan_matches: true });
      expect(compared.valid).toBeGreaterThan(100);
      expect(compared.max_abs_diff).toBeLessThan(1e-3);
    }

    // GET /api/tasks lists it with its bbox count, model type and stages.
    const list = await api.get('/api/tasks');
    expect(list.status).toBe(200);
    const listed = list.body.tasks.find((entry: any) => entry.task_id === id);
    expect(listed).toMatchObject({ status: 'completed', bbox_count: 3, model_type: modelType });
    expect(listed.stages).toEqual(task.stages);
  });

  it('input guardrails check every frame of the series: a reflectance model warns once per frame, naming its date', async () => {
    const type = 'aod_estimation_reflectance';
    const registered = await registerAod(`instageo-aod-reflectance-${process.pid}`, type, [
      [0, 0.3],
      [0, 0.6],
    ]);
    expect(registered.status).toBe(201);
    const created = await api.post('/api/run-model', { ...seedBody(), bboxes: [bboxes[0]], model_type: type });
    expect(created.status).toBe(201);
    const { task } = await pollTask(created.body.task_id);
    // A warning does not fail the task.
    expect(task.status).toBe('completed');
    const [entry] = (await api.get(`/api/v2/inference/${created.body.task_id}/tasks`)).body.tasks as any[];
    const result = entry.outputs['model-inference'];
    const dates = entry.outputs['terrakit-data-fetch'].frames.map((frame: any) => frame.datetime);
    expect(result.input_guardrails.violations.map((violation: any) => [violation.kind, violation.frame])).toEqual(
      [0, 1, 2, 3, 4].map((frame) => ['wrong_scaling', frame]),
    );
    result.input_guardrails.violations.forEach((violation: any, frame: number) =>
      expect(violation.message).toMatch(
        new RegExp(`^frame ${frame} \\(${dates[frame]}\\) of 5: input values are about`),
      ),
    );
    const step = entry.pipeline_steps.find((candidate: any) => candidate.process_id === 'model-inference');
    expect(step.message).toMatch(
      /^input guardrails: frame 0 \(2024-04-22T10:00:00Z\) of 5: .*; frame 4 \(2024-05-30T10:00:00Z\) of 5: /,
    );
    expect(result.warnings).toEqual([step.message]);
  });
});
