import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { storageKeys } from '../../src/platform/storage/keys';
import { processorWorkerStates } from '../../src/platform/database/processor-states';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { execFile } from 'node:child_process';
import { makeSampleGeoTiff, REPO_ROOT, runPython } from '../support/python';
import { ensureBuilt } from '../support/worker-process';
import { demoModelPaths } from '../support/services';
import { startTestStack, USERS, type TestStack } from '../support/stack';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'processors');

/** Generic processors through the REST API and the pipeline, on the real services, model and Python. */
describe('generic processors end to end', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelName: string;

  const uploadProcessor = (metadata: unknown, content: Buffer | string, fileName: string) =>
    api.uploadProcessor(metadata, content, fileName);

  const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));

  async function runInference(processorId: string) {
    const created = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { urls: [fixtures.url('sample.tif')] },
      temporal_domain: ['2024-06-15'],
      generic_processor_id: processorId,
    });
    expect(created.status).toBe(201);
    return created.body.id as string;
  }

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-processors-e2e-'));
    await makeSampleGeoTiff(path.join(workDir, 'sample.tif'), 256, 7);
    for (const copy of ['sample-2.tif', 'sample-3.tif'])
      fs.copyFileSync(path.join(workDir, 'sample.tif'), path.join(workDir, copy));
    fixtures = await startFixtureServer(workDir);
    stack = await startTestStack({ storage: 'minio', env: { PROCESSOR_DELETED_CHECK_SECONDS: '1' } });
    api = new ApiClient(stack.baseUrl);
    const { model, meta } = demoModelPaths();
    modelName = `csmask-processors-${Date.now()}`;
    // Public: the cross-user case below is about the processor, so bob may use the model.
    const metadata = { ...demoModelMetadata(meta, modelName), visibility: 'public' };
    expect((await api.registerModel(metadata, model)).status).toBe(201);
  });

  afterAll(async () => {
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('stores a processor as in the contract: create, get with an 8-hour download URL, list with paging, per user', async () => {
    const metadata = {
      name: 'cloud_masking',
      description: 'Custom cloud masking processor',
      processor_parameters: { threshold: 80, method: 'scl_based' },
    };
    const created = await uploadProcessor(metadata, fixture('seed_template.py'), 'cloud_masking.py');
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    expect(created.body).toMatchObject({
      ...metadata,
      processor_file_path: `${id}/cloud_masking.py`,
      style: 'script',
      status: 'FINISHED',
      created_by: USERS.alice.email,
    });
    expect(Date.parse(created.body.created_at)).not.toBeNaN();

    const fetched = await api.get(`/api/v2/generic-processor/${id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toMatchObject({ id, name: 'cloud_masking', processor_file_path: `${id}/cloud_masking.py` });
    const download = await fetch(fetched.body.processor_presigned_url);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(fixture('seed_template.py'))).toBe(true);
    const expires = Number(new URL(fetched.body.processor_presigned_url).searchParams.get('X-Amz-Expires'));
    expect(expires).toBe(8 * 60 * 60);

    const second = await uploadProcessor({ name: 'water_detection' }, fixture('invert_mask.py'), 'water.py');
    expect(second.status).toBe(201);
    expect(second.body.processor_parameters).toEqual({});
    const list = await api.get('/api/v2/generic-processor');
    expect(list.status).toBe(200);
    expect(list.body.total_records).toBeGreaterThanOrEqual(2);
    expect(list.body.results.map((entry: { id: string }) => entry.id)).toEqual(
      expect.arrayContaining([id, second.body.id]),
    );
    const page = await api.get('/api/v2/generic-processor?limit=1&offset=0');
    expect(page.body.results).toHaveLength(1);
    expect(page.body.total_records).toBe(list.body.total_records);

    // Another user sees none of them.
    const bob = api.as(USERS.bob.key);
    expect((await bob.get(`/api/v2/generic-processor/${id}`)).status).toBe(404);
    expect((await bob.get('/api/v2/generic-processor')).body).toEqual({ results: [], total_records: 0 });
    expect((await api.as(undefined).get('/api/v2/generic-processor')).status).toBe(401);
  });

  it.each([
    [
      'a file that is not .py',
      { name: 'x' },
      'print(1)',
      'script.txt',
      400,
      'generic_processor_file',
      /must be a Python file ending in \.py/,
    ],
    [
      'a file over 10 MB',
      { name: 'x' },
      `# ${'x'.repeat(10 * 1024 * 1024)}\nif __name__ == "__main__":\n    pass\n`,
      'big.py',
      413,
      'generic_processor_file',
      /larger than the 10 MB limit/,
    ],
    ['metadata that is not JSON', '{"name": ', 'print(1)', 'ok.py', 400, 'generic_processor', /not valid JSON/],
    [
      'metadata without a name',
      { description: 'no name' },
      'print(1)',
      'ok.py',
      400,
      'generic_processor.name',
      /generic_processor\.name: required/,
    ],
    ['no metadata at all', undefined, 'print(1)', 'ok.py', 400, 'generic_processor', /required form field/],
    [
      'Python that does not compile',
      { name: 'x' },
      'def broken(:\n    pass\nif __name__ == "__main__":\n    broken()\n',
      'broken.py',
      422,
      'generic_processor_file',
      /line 1: /,
    ],
    [
      'a script without a __main__ entry point',
      { name: 'x' },
      'import sys\nprint(sys.argv)\n',
      'nomain.py',
      422,
      'generic_processor_file',
      /no `if __name__ == "__main__":` entry point/,
    ],
    [
      'a lifecycle file without process()',
      { name: 'x' },
      'def setup(parameters):\n    return {}\n\ndef cleanup(state):\n    pass\n',
      'noprocess.py',
      422,
      'generic_processor_file',
      /a lifecycle processor must define process/,
    ],
    [
      'a file name with directories',
      { name: 'x' },
      'if __name__ == "__main__":\n    pass\n',
      '../../etc/evil.py',
      400,
      'generic_processor_file',
      /is not allowed/,
    ],
    [
      'a hidden file name',
      { name: 'x' },
      'if __name__ == "__main__":\n    pass\n',
      '.bashrc.py',
      400,
      'generic_processor_file',
      /is not allowed/,
    ],
  ])('refuses %s with a 4xx naming the field', async (_case, metadata, content, fileName, status, field, message) => {
    const before = (await api.get('/api/v2/generic-processor')).body.total_records;
    const response = await uploadProcessor(metadata, content, fileName);
    expect(response.status).toBe(status);
    expect(response.body).toMatchObject({ statusCode: status, field });
    expect(response.body.message).toMatch(message);
    expect((await api.get('/api/v2/generic-processor')).body.total_records).toBe(before);
  });

  it('refuses a request without the script file', async () => {
    const form = new FormData();
    form.set('generic_processor', JSON.stringify({ name: 'x' }));
    const response = await fetch(`${api.baseUrl}/api/v2/generic-processor`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${api.apiKey}` },
      body: form,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ field: 'generic_processor_file' });
  });

  it('runs the processor between model inference and the push: its output is what gets published, its output the step log', async () => {
    const processor = await uploadProcessor(
      { name: 'invert', processor_parameters: { value: 10 } },
      fixture('invert_mask.py'),
      'invert_mask.py',
    );
    const id = await runInference(processor.body.id);
    const finished = await api.waitForInference(id);
    expect(finished).toMatchObject({ status: 'COMPLETED', tasks_count_success: 1 });
    const [task] = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
    expect(
      task.pipeline_steps.map((step: { process_id: string; step_number: number; status: string }) => [
        step.process_id,
        step.step_number,
        step.status,
      ]),
    ).toEqual([
      ['terrakit-data-fetch', 0, 'FINISHED'],
      ['model-inference', 1, 'FINISHED'],
      ['generic-python-processor', 2, 'FINISHED'],
      ['push-to-geoserver', 3, 'FINISHED'],
    ]);
    expect(task.outputs['generic-python-processor']).toMatchObject({ exit_code: 0, result: { status: 'success' } });
    expect(task.outputs['push-to-geoserver'].raster_key).toBe(storageKeys.processorOutput(id, task.task_id));

    // The published output is exactly the script's transformation of the model's mask.
    const modelOutput = path.join(workDir, 'model-output.tif');
    await stack.store.downloadToFile(storageKeys.modelOutput(id, task.task_id), modelOutput);
    const output = await api.get(`/api/v2/tasks/${task.task_id}/output-url`);
    const processed = path.join(workDir, 'processed.tif');
    fs.writeFileSync(processed, Buffer.from(await (await fetch(output.body.url)).arrayBuffer()));
    const check = await runPython('test/support/compare_processed.py', [modelOutput, processed, '10']);
    expect(JSON.parse(check)).toMatchObject({ same_grid: true, matches: true });

    const log = await api.get(`/api/v2/tasks/${task.task_id}/logs/generic-python-processor`);
    expect(log.status).toBe(200);
    expect(log.text).toMatch(/processor invert .*parameters \{"value":10\}/);
    expect(log.text).toMatch(/inverted \d+ pixels/);
    expect(log.text).toContain('"valid_pixels"');
    expect(log.text).toMatch(/exit code 0/);
  });

  it('runs a lifecycle processor: setup once in a warm process for all tasks and the next inference, per-task outcomes, state on GET', async () => {
    const processor = await uploadProcessor(
      { name: 'counter', processor_parameters: { setup_seconds: 1 } },
      fixture('lifecycle_counter.py'),
      'lifecycle_counter.py',
    );
    expect(processor.status).toBe(201);
    expect(processor.body.style).toBe('lifecycle');
    const urls = ['sample.tif', 'sample-2.tif', 'sample-3.tif'].map((name) => fixtures.url(name));
    const start = async () => {
      const created = await api.post('/api/v2/inference', {
        model_display_name: modelName,
        spatial_domain: { urls },
        temporal_domain: ['2024-06-15'],
        generic_processor_id: processor.body.id,
      });
      expect(created.status).toBe(201);
      return created.body.id as string;
    };
    const first = await start();
    expect(await api.waitForInference(first)).toMatchObject({ status: 'COMPLETED', tasks_count_success: 3 });
    const second = await start();
    expect(await api.waitForInference(second)).toMatchObject({ status: 'COMPLETED', tasks_count_success: 3 });
    const results = [];
    for (const id of [first, second]) {
      for (const task of (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks) {
        expect(task.pipeline_steps.map((step: { status: string }) => step.status)).toEqual(Array(4).fill('FINISHED'));
        results.push(task.outputs['generic-python-processor'].result);
      }
    }
    // One warm process served all six tasks: setup ran once; each inference's group was one process_batch call.
    expect(new Set(results.map((result) => result.token)).size).toBe(1);
    expect(results.map((result) => result.setup_calls)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(results.map((result) => result.calls).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(results[5].batches).toEqual([3, 3]);
    const [task] = (await api.get(`/api/v2/inference/${first}/tasks`)).body.tasks;
    const log = await api.get(`/api/v2/tasks/${task.task_id}/logs/generic-python-processor`);
    expect(log.text).toMatch(/setup ran in a fresh warm process/);
    expect(log.text).toContain('setup number 1');
    const state = await api.get(`/api/v2/generic-processor/${processor.body.id}`);
    expect(state.body.runtime.warm_workers).toHaveLength(1);
    expect(state.body.runtime.workers[0]).toMatchObject({ warm_processes: 1, runs: 6, failures: 0 });
    expect(state.body.runtime.workers[0].setup_ms).toBeGreaterThanOrEqual(1000);
    const metrics = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(`geo_processor_runs_total\\{processor="${processor.body.id}",outcome="ok"\\} 6`),
    );
    expect(metrics).toMatch(new RegExp(`geo_processor_setup_seconds_count\\{processor="${processor.body.id}"\\} 1`));

    // Deleting it runs its cleanup on the worker (which checks every PROCESSOR_DELETED_CHECK_SECONDS).
    expect((await api.delete(`/api/v2/generic-processor/${processor.body.id}`)).status).toBe(204);
    let workers: Array<{ warm_processes: number }> = [];
    for (let waited = 0; waited < 10_000; waited += 250) {
      workers = await processorWorkerStates(stack.dataSource, processor.body.id);
      if (workers[0]?.warm_processes === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(workers[0]).toMatchObject({ warm_processes: 0 });
  });

  it('fails a task whose input a lifecycle validate() refuses with its message, not retried', async () => {
    const processor = await uploadProcessor(
      { name: 'validator', processor_parameters: { min_bands: 2 } },
      fixture('lifecycle_validate.py'),
      'lifecycle_validate.py',
    );
    const id = await runInference(processor.body.id);
    expect(await api.waitForInference(id)).toMatchObject({ status: 'FAILED', tasks_count_failed: 1 });
    const [task] = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
    expect(task.pipeline_steps[2]).toMatchObject({
      process_id: 'generic-python-processor',
      status: 'FAILED',
      message: 'need at least 2 bands, the input has 1',
    });
    const log = await api.get(`/api/v2/tasks/${task.task_id}/logs/generic-python-processor`);
    expect(log.text.match(/attempt \d+ started/g)).toEqual(['attempt 1 started']);
    const state = await api.get(`/api/v2/generic-processor/${processor.body.id}`);
    expect(state.body.runtime.last_error).toBe('need at least 2 bands, the input has 1');
  });

  it('fails the processor step with the script message and log when the script exits 1; the push does not run', async () => {
    const processor = await uploadProcessor(
      { name: 'template-bad-input', processor_parameters: { method: 'normalize' } },
      fixture('runtime_error.py'),
      'runtime_error.py',
    );
    const id = await runInference(processor.body.id);
    const finished = await api.waitForInference(id);
    expect(finished).toMatchObject({ status: 'FAILED', tasks_count_failed: 1 });
    const [task] = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
    expect(task.pipeline_steps[2]).toMatchObject({ process_id: 'generic-python-processor', status: 'FAILED' });
    expect(task.pipeline_steps[2].message).toBe(
      "the processor exited with code 1: NameError: name 'undefined_name' is not defined",
    );
    expect(task.pipeline_steps[3]).toMatchObject({ process_id: 'push-to-geoserver', status: 'WAITING' });
    const log = await api.get(`/api/v2/tasks/${task.task_id}/logs/generic-python-processor`);
    expect(log.text).toContain('Traceback');
    expect(log.text).toContain('about to fail');
    // Not retried: a script failing with exit code 1 fails the same way again.
    expect(log.text.match(/attempt \d+ started/g)).toEqual(['attempt 1 started']);
  });

  it('soft-deletes: gone from the API, refused for new inferences, while an inference already using it finishes', async () => {
    const processor = await uploadProcessor(
      { name: 'slow', processor_parameters: { seconds: 4 } },
      fixture('slow_copy.py'),
      'slow_copy.py',
    );
    const processorId: string = processor.body.id;
    const running = await runInference(processorId);
    await api.waitForInference(running, 120_000, (body) => body.status === 'RUNNING');

    const deleted = await api.delete(`/api/v2/generic-processor/${processorId}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await api.get(`/api/v2/generic-processor/${processorId}`)).status).toBe(404);
    expect(
      (await api.get('/api/v2/generic-processor')).body.results.map((entry: { id: string }) => entry.id),
    ).not.toContain(processorId);
    expect((await api.delete(`/api/v2/generic-processor/${processorId}`)).status).toBe(404);

    const refused = await api.post('/api/v2/inference', {
      model_display_name: modelName,
      spatial_domain: { urls: [fixtures.url('sample.tif')] },
      temporal_domain: ['2024-06-15'],
      generic_processor_id: processorId,
    });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ field: 'generic_processor_id' });
    expect(refused.body.message).toMatch(/was deleted/);

    expect(await api.waitForInference(running)).toMatchObject({ status: 'COMPLETED' });
  });

  it('lets authors run a processor locally exactly as the pipeline does (npm run processor:run)', async () => {
    ensureBuilt();
    const output = path.join(workDir, 'local-output.tif');
    const run = (script: string, parameters: string) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) =>
        execFile(
          process.execPath,
          [
            path.join(REPO_ROOT, 'dist', 'scripts', 'run-processor.js'),
            path.join(FIXTURES, script),
            path.join(workDir, 'sample.tif'),
            output,
            parameters,
          ],
          { cwd: REPO_ROOT },
          (error, stdout) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout }),
        ),
      );
    const good = await run('seed_template.py', '{"threshold": 1000, "method": "threshold"}');
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('Applying threshold processing with threshold 1000');
    expect(good.stdout).toMatch(/"status": "success"/);
    expect(good.stdout).toContain(`OK: output written to ${output}`);
    expect(fs.statSync(output).size).toBeGreaterThan(0);
    const bad = await run('runtime_error.py', '{}');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(
      "FAILED: the processor exited with code 1: NameError: name 'undefined_name' is not defined",
    );
  });

  it("refuses another user's processor and an unknown one for an inference", async () => {
    const processor = await uploadProcessor({ name: 'mine' }, fixture('slow_copy.py'), 'slow_copy.py');
    for (const [client, id] of [
      [api.as(USERS.bob.key), processor.body.id],
      [api, '00000000-0000-4000-8000-000000000000'],
    ] as const) {
      const refused = await client.post('/api/v2/inference', {
        model_display_name: modelName,
        spatial_domain: { urls: [fixtures.url('sample.tif')] },
        temporal_domain: ['2024-06-15'],
        generic_processor_id: id,
      });
      expect(refused.status).toBe(422);
      expect(refused.body.message).toMatch(/generic_processor_id: generic processor .* not found/);
    }
  });
});
