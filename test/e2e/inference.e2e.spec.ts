import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { storageKeys } from '../../src/platform/storage/keys';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { compareMasks, crsAndTransform, runPython, makeSampleGeoTiff } from '../support/python';
import { demoModelPaths } from '../support/services';
import { startTestStack, USERS, type TestStack } from '../support/stack';

/** HTTP -> workflow -> activities -> outputs, against real PostgreSQL, Temporal, MinIO and the real model. */
describe('inference end to end (MinIO storage, demo model)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelId: string;
  let modelName: string;
  const samplePath = () => path.join(workDir, 'sample.tif');

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-e2e-'));
    await makeSampleGeoTiff(samplePath(), 512, 7);
    fs.writeFileSync(path.join(workDir, 'not-a-tiff.tif'), 'this is a text file, not a GeoTIFF\n'.repeat(50));
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio' });
    api = new ApiClient(stack.baseUrl);
    const { model, meta } = demoModelPaths();
    modelName = `csmask-e2e-${Date.now()}`;
    const registered = await api.registerModel(demoModelMetadata(meta, modelName), model);
    expect(registered.status).toBe(201);
    modelId = registered.body.id;
  });

  afterAll(async () => {
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('registers the demo model as READY with its ONNX signature', async () => {
    const response = await api.get(`/api/v2/models/${modelId}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      id: modelId,
      display_name: modelName,
      status: 'READY',
      created_by: USERS.alice.email,
    });
    expect(response.body.onnx_signature.inputs[0].dims.slice(1)).toEqual([6, 256, 256]);
    const list = await api.get('/api/v2/models');
    expect(list.body.results.map((model: { id: string }) => model.id)).toContain(modelId);
    expect(list.body.total_records).toBeGreaterThanOrEqual(1);
  });

  it('runs an inference on a GeoTIFF URL and produces the same mask as an independent Python onnxruntime run', async () => {
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      description: 'cloud mask of the sample scene',
      location: 'Austria',
      spatial_domain: { urls: [fixtures.url('sample.tif')] },
      temporal_domain: ['2024-06-15'],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      model_id: modelId,
      model_display_name: modelName,
      status: 'PENDING',
      spatial_domain: { urls: [fixtures.url('sample.tif')] },
      temporal_domain: ['2024-06-15'],
      created_by: USERS.alice.email,
      tasks_count_total: 1,
    });
    expect(created.body.temporal_ui_url).toContain(`/workflows/${created.body.id}`);
    const id: string = created.body.id;

    const finished = await api.waitForInference(id);
    expect(finished).toMatchObject({
      status: 'COMPLETED',
      tasks_count_total: 1,
      tasks_count_success: 1,
      tasks_count_failed: 0,
      tasks_count_waiting: 0,
    });

    const tasks = await api.get(`/api/v2/inference/${id}/tasks`);
    expect(tasks.status).toBe(200);
    expect(tasks.body.tasks).toHaveLength(1);
    const task = tasks.body.tasks[0];
    expect(task.status).toBe('FINISHED');
    expect(
      task.pipeline_steps.map((step: { process_id: string; step_number: number; status: string }) => [
        step.process_id,
        step.step_number,
        step.status,
      ]),
    ).toEqual([
      ['terrakit-data-fetch', 0, 'FINISHED'],
      ['model-inference', 1, 'FINISHED'],
      ['push-to-geoserver', 2, 'FINISHED'],
    ]);
    expect(task.outputs['push-to-geoserver']).toMatchObject({ publisher: 'builtin', workspace: 'geo_inference' });

    const output = await api.get(`/api/v2/tasks/${task.task_id}/output-url`);
    expect(output.status).toBe(200);
    const download = await fetch(output.body.url);
    expect(download.status).toBe(200);
    const outputPath = path.join(workDir, 'pipeline-output.tif');
    fs.writeFileSync(outputPath, Buffer.from(await download.arrayBuffer()));

    // Independent reference: numpy + Python onnxruntime on the same pixels with the same spec.
    const { model } = demoModelPaths();
    const specPath = path.join(workDir, 'spec.json');
    fs.writeFileSync(specPath, JSON.stringify(demoModelMetadata(demoModelPaths().meta).model_input_data_spec));
    const referencePath = path.join(workDir, 'reference.tif');
    await runPython('python/reference_inference.py', [samplePath(), model, specPath, referencePath]);
    const comparison = await compareMasks(outputPath, referencePath);
    expect(comparison.shape_a).toEqual([512, 512]);
    expect(comparison.equal / comparison.total).toBeGreaterThanOrEqual(0.9999);
    // The model finds clouds in the sample: not a blank mask.
    expect(Number(comparison.class_counts_a['1'] ?? 0)).toBeGreaterThan(0.01 * comparison.total);

    // Georeferencing of the output is the input's, read by GDAL.
    const input = await crsAndTransform(samplePath());
    const result = await crsAndTransform(outputPath);
    expect(result.crs).toBe(input.crs);
    expect(result.transform).toEqual(input.transform);

    const log = await api.get(`/api/v2/tasks/${task.task_id}/logs/model-inference`);
    expect(log.status).toBe(200);
    expect(log.text).toMatch(/attempt 1 started/);
    expect(log.text).toMatch(/class pixel counts/);

    // A step log written by a version before step_logs (an object in storage) still shows, before the rows.
    await stack.store.putObject(
      storageKeys.legacyStepLog(id, task.task_id, 'model-inference'),
      Buffer.from('2026-01-01T00:00:00.000Z INFO attempt 1 started (older version)\n'),
    );
    const merged = await api.get(`/api/v2/tasks/${task.task_id}/logs/model-inference`);
    expect(merged.text.startsWith('2026-01-01T00:00:00.000Z INFO attempt 1 started (older version)\n')).toBe(true);
    expect(merged.text.endsWith(log.text)).toBe(true);
  });

  it('fails the data-fetch step with a readable reason for a URL that is not a GeoTIFF, and for a 404', async () => {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('not-a-tiff.tif'), fixtures.url('status/404')] },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    const finished = await api.waitForInference(created.body.id);
    expect(finished).toMatchObject({
      status: 'FAILED',
      tasks_count_total: 2,
      tasks_count_failed: 2,
      tasks_count_success: 0,
    });
    const tasks = (await api.get(`/api/v2/inference/${created.body.id}/tasks`)).body.tasks;
    const [notTiff, missing] = tasks;
    expect(notTiff.pipeline_steps[0]).toMatchObject({ process_id: 'terrakit-data-fetch', status: 'FAILED' });
    expect(notTiff.pipeline_steps[0].message).toMatch(/not a readable GeoTIFF/);
    expect(notTiff.pipeline_steps[1].status).toBe('WAITING');
    expect(missing.pipeline_steps[0].message).toMatch(/HTTP 404/);
    const log = await api.get(`/api/v2/tasks/${notTiff.task_id}/logs/terrakit-data-fetch`);
    expect(log.text).toMatch(/ERROR .*not a readable GeoTIFF/);
    const noOutput = await api.get(`/api/v2/tasks/${notTiff.task_id}/output-url`);
    expect(noOutput.status).toBe(404);
  });

  it('keeps a failed task from stopping the others: one good and one bad URL -> FAILED with the counts', async () => {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('sample.tif'), fixtures.url('not-a-tiff.tif')] },
      temporal_domain: ['2024-06-15'],
    });
    const finished = await api.waitForInference(created.body.id);
    expect(finished).toMatchObject({
      status: 'FAILED',
      tasks_count_total: 2,
      tasks_count_success: 1,
      tasks_count_failed: 1,
    });
    const list = await api.get(`/api/v2/inference?status=FAILED`);
    expect(list.body.results.map((row: { id: string }) => row.id)).toContain(created.body.id);
  });

  it('shows users only their own inferences, and deleting one removes its records and outputs', async () => {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      spatial_domain: { urls: [fixtures.url('sample.tif')] },
      temporal_domain: [],
    });
    const id = created.body.id;
    await api.waitForInference(id);
    const bob = api.as(USERS.bob.key);
    expect((await bob.get(`/api/v2/inference/${id}`)).status).toBe(404);
    expect((await bob.get('/api/v2/inference')).body.results.map((row: { id: string }) => row.id)).not.toContain(id);
    expect((await bob.delete(`/api/v2/inference/${id}`)).status).toBe(404);

    expect((await stack.store.list(`inferences/${id}/`)).length).toBeGreaterThan(0);
    expect((await api.delete(`/api/v2/inference/${id}`)).status).toBe(204);
    expect((await api.get(`/api/v2/inference/${id}`)).status).toBe(404);
    expect(await stack.store.list(`inferences/${id}/`)).toEqual([]);
  });
});
