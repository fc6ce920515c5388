import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { makeSampleGeoTiff, runPython } from '../support/python';
import { demoModelPaths } from '../support/services';
import { startTestStack, USERS, type TestStack } from '../support/stack';

/** Model input after scaling and normalisation of real reflectance (0..1) for the demo model's statistics. */
const DEMO_INPUT_RANGES = Array.from({ length: 6 }, () => [-1.5, 3.5]);

/**
 * Input guardrails through the pipeline: the demo model (it expects Sentinel-2 digital numbers, scale 0.0001)
 * with declared input ranges, given a correctly scaled upload and one already turned into reflectance.
 */
describe('input guardrails (model-inference step)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let workDir: string;
  let scene: { name: string; bytes: Buffer };
  let reflectance: { name: string; bytes: Buffer };

  async function register(name: string, change: (spec: any) => any): Promise<string> {
    const metadata = demoModelMetadata(demoModelPaths().meta, `${name}-${Date.now()}`);
    const response = await api.registerModel(
      { ...metadata, model_input_data_spec: change(metadata.model_input_data_spec) },
      demoModelPaths().model,
    );
    expect(response.status).toBe(201);
    return response.body.id;
  }

  async function upload(modelId: string, files: Array<{ name: string; bytes: Buffer }>) {
    const form = new FormData();
    form.append('inference', JSON.stringify({ model_id: modelId }));
    for (const file of files) form.append('files', new Blob([file.bytes]), file.name);
    const response = await fetch(`${stack.baseUrl}/api/v2/inference/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${USERS.alice.key}` },
      body: form,
    });
    expect(response.status).toBe(201);
    const id = ((await response.json()) as { id: string }).id;
    const finished = await api.waitForInference(id);
    const tasks = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks as any[];
    return { finished, tasks };
  }

  const modelStep = (task: any) => task.pipeline_steps.find((step: any) => step.process_id === 'model-inference');

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-guardrails-'));
    const dn = path.join(workDir, 'scene-dn.tif');
    const scaled = path.join(workDir, 'scene-reflectance.tif');
    await makeSampleGeoTiff(dn, 256, 5);
    await runPython('test/support/rescale_raster.py', [dn, scaled, '--factor', '0.0001']);
    scene = { name: 'scene-dn.tif', bytes: fs.readFileSync(dn) };
    reflectance = { name: 'scene-reflectance.tif', bytes: fs.readFileSync(scaled) };
    stack = await startTestStack({ storage: 'minio' });
    api = new ApiClient(stack.baseUrl);
  });

  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('warns on a wrongly scaled upload (step message, result field, step log); the correctly scaled one has none', async () => {
    const modelId = await register('guarded', (spec) => ({ ...spec, guardrails: { input_ranges: DEMO_INPUT_RANGES } }));
    const { finished, tasks } = await upload(modelId, [scene, reflectance]);
    // A warning does not fail anything.
    expect(finished).toMatchObject({ status: 'COMPLETED', tasks_count_success: 2 });

    const correct = modelStep(tasks[0]);
    expect(correct.status).toBe('FINISHED');
    expect(correct.message).toBeUndefined();
    expect(tasks[0].outputs['model-inference'].warnings).toBeUndefined();
    expect(tasks[0].outputs['model-inference'].input_guardrails).toMatchObject({
      ranges_from: 'declared',
      violations: [],
    });

    const wrong = modelStep(tasks[1]);
    expect(wrong.status).toBe('FINISHED');
    expect(wrong.message).toMatch(
      /^input guardrails: input values span less than 1% of the expected range .*reflectance \(already scaled\) given to a model that expects digital numbers/,
    );
    const result = tasks[1].outputs['model-inference'];
    expect(result.warnings).toEqual([wrong.message]);
    expect(result.input_guardrails.violations).toEqual([
      expect.objectContaining({ kind: 'wrong_scaling', bands: ['blue', 'green', 'red', 'nir', 'swir16', 'swir22'] }),
    ]);
    const log = await api.get(`/api/v2/tasks/${tasks[1].task_id}/logs/model-inference`);
    expect(log.text).toMatch(/WARN input guardrails: input values span less than 1%/);
    const okLog = await api.get(`/api/v2/tasks/${tasks[0].task_id}/logs/model-inference`);
    expect(okLog.text).toMatch(/INFO input guardrails: no violation \(\d+ pixels sampled, ranges from declared\)/);
  });

  it("on_violation 'fail' fails the task with a readable reason before the model runs", async () => {
    const modelId = await register('guarded-fail', (spec) => ({
      ...spec,
      guardrails: { input_ranges: DEMO_INPUT_RANGES, on_violation: 'fail' },
    }));
    const { finished, tasks } = await upload(modelId, [reflectance]);
    expect(finished).toMatchObject({ status: 'FAILED', tasks_count_failed: 1 });
    const step = modelStep(tasks[0]);
    expect(step.status).toBe('FAILED');
    expect(step.message).toMatch(/^input guardrails: .*check model_input_data_spec\.scaling/);
    expect(tasks[0].message).toMatch(/^model-inference: input guardrails:/);
    expect(tasks[0].output_key).toBeNull();
  });

  it('a model with a golden pair and no declared ranges: ranges learned from its golden input', async () => {
    const metadata = demoModelMetadata(demoModelPaths().meta, `guarded-golden-${Date.now()}`);
    const goldenInput = path.join(workDir, 'golden-input.tif');
    const expected = path.join(workDir, 'golden-expected.tif');
    const specPath = path.join(workDir, 'golden-spec.json');
    await makeSampleGeoTiff(goldenInput, 256, 11);
    fs.writeFileSync(specPath, JSON.stringify(metadata.model_input_data_spec));
    await runPython('python/reference_inference.py', [goldenInput, demoModelPaths().model, specPath, expected]);
    const registered = await api.registerModel(
      { ...metadata, golden: { max_differing_pixels: 200 } },
      demoModelPaths().model,
      undefined,
      { golden_input: goldenInput, golden_output: expected },
    );
    expect(registered.status).toBe(201);
    const { finished, tasks } = await upload(registered.body.id, [scene, reflectance]);
    expect(finished.status).toBe('COMPLETED');
    expect(tasks[0].outputs['model-inference'].input_guardrails).toMatchObject({
      ranges_from: 'golden',
      violations: [],
    });
    expect(modelStep(tasks[0]).message).toBeUndefined();
    expect(tasks[1].outputs['model-inference'].input_guardrails).toMatchObject({
      ranges_from: 'golden',
      violations: [expect.objectContaining({ kind: 'wrong_scaling' })],
    });
    expect(modelStep(tasks[1]).message).toMatch(/^input guardrails: .*reflectance \(already scaled\)/);
  });

  it('digital numbers given to a reflectance model (no scaling in the spec): the InstaGeo issue 32 warning', async () => {
    const modelId = await register('guarded-reflectance', (spec) => {
      const { scaling: _dropped, ...rest } = spec;
      return { ...rest, guardrails: { input_ranges: DEMO_INPUT_RANGES } };
    });
    const { finished, tasks } = await upload(modelId, [scene]);
    expect(finished.status).toBe('COMPLETED');
    expect(modelStep(tasks[0]).message).toMatch(
      /input values are about \d+x outside the expected range .*digital numbers given to a model that expects reflectance/,
    );
  });
});
