import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths } from '../support/services';
import { startTestStack, USERS, type TestStack } from '../support/stack';

/** Bulk GeoTIFF upload: streamed to storage, one task per file, bad files fail only their own task. */
describe('bulk upload', () => {
  let stack: TestStack;
  let api: ApiClient;
  let workDir: string;
  let modelId: string;
  let sample: Buffer;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-upload-'));
    await makeSampleGeoTiff(path.join(workDir, 'tile.tif'), 256, 9);
    sample = fs.readFileSync(path.join(workDir, 'tile.tif'));
    stack = await startTestStack({ storage: 'minio' });
    api = new ApiClient(stack.baseUrl);
    modelId = (
      await api.registerModel(
        demoModelMetadata(demoModelPaths().meta, `csmask-upload-${Date.now()}`),
        demoModelPaths().model,
      )
    ).body.id;
  });

  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  async function upload(parts: Array<[string, string | { name: string; bytes: Buffer }]>) {
    const form = new FormData();
    for (const [field, value] of parts) {
      if (typeof value === 'string') form.append(field, value);
      else form.append(field, new Blob([value.bytes]), value.name);
    }
    const response = await fetch(`${stack.baseUrl}/api/v2/inference/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${USERS.alice.key}` },
      body: form,
    });
    return { status: response.status, body: (await response.json()) as any };
  }

  const uploadedObjects = async () =>
    (await stack.store.list('inferences/')).filter((object) => object.key.includes('/uploads/')).length;

  it('runs one task per file; a bad file fails only its own task with a reason naming it', async () => {
    const files: Array<[string, { name: string; bytes: Buffer }]> = Array.from({ length: 8 }, (_, index) => [
      'files',
      { name: `scene-${index}.tif`, bytes: sample },
    ]);
    files.splice(3, 0, ['files', { name: '../../etc/broken scene.tif', bytes: Buffer.from('not a tiff at all') }]);
    const created = await upload([
      ['inference', JSON.stringify({ model_id: modelId, description: 'bulk', temporal_domain: ['2024-06-15'] })],
      ...files,
    ]);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'PENDING', tasks_count_total: 9 });
    expect(created.body.spatial_domain.uploads).toHaveLength(9);
    expect(created.body.spatial_domain.uploads[3]).toBe('broken_scene.tif');

    const finished = await api.waitForInference(created.body.id, 300_000);
    expect(finished).toMatchObject({
      status: 'FAILED',
      tasks_count_total: 9,
      tasks_count_success: 8,
      tasks_count_failed: 1,
      tasks_count_waiting: 0,
    });
    const tasks = (await api.get(`/api/v2/inference/${created.body.id}/tasks`)).body.tasks;
    expect(tasks[3].status).toBe('FAILED');
    expect(tasks[3].pipeline_steps[0].message).toBe(
      'broken_scene.tif is not a readable GeoTIFF: not a TIFF file (starts with "not ")',
    );
    for (const task of tasks.filter((_: unknown, index: number) => index !== 3)) {
      expect(task.status).toBe('FINISHED');
      expect((await api.get(`/api/v2/tasks/${task.task_id}/output-url`)).status).toBe(200);
    }
  });

  it('refuses a bad request before storing anything, and cleans up what was stored', async () => {
    const before = await uploadedObjects();
    const filesFirst = await upload([
      ['files', { name: 'a.tif', bytes: sample }],
      ['inference', JSON.stringify({ model_id: modelId })],
    ]);
    expect(filesFirst.status).toBe(400);
    expect(filesFirst.body.field).toBe('inference');
    const unknownModel = await upload([
      ['inference', JSON.stringify({ model_id: '00000000-0000-4000-8000-000000000000' })],
      ['files', { name: 'a.tif', bytes: sample }],
    ]);
    expect(unknownModel.status).toBe(422);
    expect(unknownModel.body.field).toBe('model_id');
    const badJson = await upload([
      ['inference', '{"model_id":'],
      ['files', { name: 'a.tif', bytes: sample }],
    ]);
    expect(badJson.status).toBe(400);
    expect(badJson.body.field).toBe('inference');
    const noFiles = await upload([['inference', JSON.stringify({ model_id: modelId })]]);
    expect(noFiles.status).toBe(400);
    expect(noFiles.body.field).toBe('files');
    const json = await api.post('/api/v2/inference/upload', { model_id: modelId });
    expect(json.status).toBe(415);
    expect(await uploadedObjects()).toBe(before);
  });
});
