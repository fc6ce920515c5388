import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { runSchemathesis } from '../../scripts/schemathesis';
import { ApiClient } from '../support/api-client';
import { makeSampleGeoTiff, runPython } from '../support/python';
import { demoModelPaths } from '../support/services';
import { buildConsole } from '../../scripts/build-console';
import { startTestStack, USERS, type TestStack } from '../support/stack';

/** Bad input gets a clear 4xx naming the field, and nothing stored earlier is lost (filesystem storage). */
describe('API validation and auth', () => {
  let stack: TestStack;
  let api: ApiClient;
  let workDir: string;
  let existingModel: { id: string; display_name: string };
  let metadata: ReturnType<typeof demoModelMetadata>;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-validation-'));
    // The console is built so the fuzz run below checks its pages as served, not the "not built" 503.
    const consoleBuild = await buildConsole(path.join(workDir, 'console'));
    // No rate limits: the fuzz run below sends thousands of requests with one key.
    stack = await startTestStack({
      storage: 'filesystem',
      worker: false,
      env: { RATE_LIMIT_PER_MINUTE: '0', RATE_LIMIT_INFERENCES_PER_MINUTE: '0', CONSOLE_DIR: consoleBuild.outdir },
    });
    api = new ApiClient(stack.baseUrl);
    metadata = demoModelMetadata(demoModelPaths().meta, `csmask-validation-${Date.now()}`);
    const registered = await api.registerModel(metadata, demoModelPaths().model);
    expect(registered.status).toBe(201);
    existingModel = registered.body;
  });

  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  describe('auth', () => {
    it.each([
      ['no header', undefined, /missing "Authorization: Bearer/],
      ['a wrong key', 'not-a-key', /invalid API key/],
    ])('answers 401 JSON with %s', async (_label, key, message) => {
      const response = await api.as(key).get('/api/v2/inference');
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
      expect(response.body.message).toMatch(message);
    });

    it('rejects a malformed Authorization header', async () => {
      const response = await fetch(`${stack.baseUrl}/api/v2/models`, {
        headers: { Authorization: `Basic ${USERS.alice.key}` },
      });
      expect(response.status).toBe(401);
      expect(((await response.json()) as any).message).toMatch(/Bearer/);
    });

    it('needs no key for the health check', async () => {
      const response = await api.as(undefined).get('/api/health');
      expect(response.status).toBe(200);
      expect(response.body.checks).toMatchObject({
        database: { status: 'up' },
        temporal: { status: 'up' },
        object_storage: { status: 'up' },
      });
    });
  });

  describe('models', () => {
    const junkOnnx = () => {
      const file = path.join(workDir, 'junk.onnx');
      fs.writeFileSync(file, Buffer.alloc(4096, 7));
      return file;
    };

    it('422 for a file that is not an ONNX model', async () => {
      const response = await api.registerModel({ ...metadata, display_name: 'junk-model' }, junkOnnx());
      expect(response.status).toBe(422);
      expect(response.body).toMatchObject({ field: 'model_file' });
      expect(response.body.message).toMatch(/not a loadable ONNX model/);
    });

    it('400 for a file without the .onnx extension', async () => {
      const file = path.join(workDir, 'model.bin');
      fs.copyFileSync(junkOnnx(), file);
      const response = await api.registerModel({ ...metadata, display_name: 'bin-model' }, file);
      expect(response.status).toBe(400);
      expect(response.body.field).toBe('model_file');
    });

    it('400 naming the field for missing or invalid metadata', async () => {
      const missing = await api.registerModel('', junkOnnx());
      expect(missing.status).toBe(400);
      expect(missing.body.field).toBe('model');
      const notJson = await api.registerModel('{"display_name":', junkOnnx());
      expect(notJson.status).toBe(400);
      expect(notJson.body.message).toMatch(/not valid JSON/);
      const badOverlap = await api.registerModel(
        {
          ...metadata,
          display_name: 'bad-overlap',
          model_input_data_spec: { ...metadata.model_input_data_spec, tile_overlap: 200 },
        },
        junkOnnx(),
      );
      expect(badOverlap.status).toBe(400);
      expect(badOverlap.body.field).toBe('model.model_input_data_spec.tile_overlap');
      const badBlending = await api.registerModel(
        {
          ...metadata,
          display_name: 'bad-blending',
          model_input_data_spec: { ...metadata.model_input_data_spec, tile_blending: 'gaussian' },
        },
        junkOnnx(),
      );
      expect(badBlending.status).toBe(400);
      expect(badBlending.body.field).toBe('model.model_input_data_spec.tile_blending');
      const noName = await api.registerModel({ model_input_data_spec: metadata.model_input_data_spec }, junkOnnx());
      expect(noName.status).toBe(400);
      expect(noName.body.field).toBe('model.display_name');
    });

    it('400 when the file is missing', async () => {
      const form = new FormData();
      form.set('model', JSON.stringify(metadata));
      const response = await fetch(`${stack.baseUrl}/api/v2/models`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${USERS.alice.key}` },
        body: form,
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as any).field).toBe('model_file');
    });

    it('422 when the declared bands do not match the model input', async () => {
      const spec = metadata.model_input_data_spec;
      const fiveBands = {
        ...spec,
        bands: spec.bands.slice(0, 5),
        normalization: { mean: spec.normalization!.mean.slice(0, 5), std: spec.normalization!.std.slice(0, 5) },
      };
      const response = await api.registerModel(
        { ...metadata, display_name: 'five-bands', model_input_data_spec: fiveBands },
        demoModelPaths().model,
      );
      expect(response.status).toBe(422);
      expect(response.body.field).toBe('model_input_data_spec.bands');
      expect(response.body.message).toMatch(/takes 6 input channels but 5 bands/);
    });

    it('registers the same display name again as version 2, the first version intact', async () => {
      const response = await api.registerModel(metadata, demoModelPaths().model);
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({ display_name: metadata.display_name, version: 2, golden: null });
      const existing = await api.get(`/api/v2/models/${existingModel.id}`);
      expect(existing.status).toBe(200);
      expect(existing.body).toMatchObject({ status: 'READY', version: 1 });
    });

    describe('golden pair', () => {
      let goldenInput: string;
      let expected: string;

      beforeAll(async () => {
        // 300 x 300 pixels: four overlapping 256-pixel tiles of the demo model, as the model step cuts them.
        goldenInput = path.join(workDir, 'golden-input.tif');
        await makeSampleGeoTiff(goldenInput, 300, 11);
        // The expected output from the independent reference (numpy + Python onnxruntime, same tiling rule).
        const specPath = path.join(workDir, 'golden-spec.json');
        fs.writeFileSync(specPath, JSON.stringify(metadata.model_input_data_spec));
        expected = path.join(workDir, 'golden-expected.tif');
        await runPython('python/reference_inference.py', [goldenInput, demoModelPaths().model, specPath, expected]);
      });

      const registerWithGolden = (name: string, files: Record<string, string>, golden?: unknown) =>
        api.registerModel(
          { ...metadata, display_name: name, ...(golden ? { golden } : {}) },
          demoModelPaths().model,
          undefined,
          files,
        );

      it('accepts a model that reproduces its golden output and keeps the pair', async () => {
        // onnxruntime-node and Python onnxruntime may round a few logits differently: a few pixels may differ.
        const response = await registerWithGolden(
          `golden-ok-${Date.now()}`,
          { golden_input: goldenInput, golden_output: expected },
          { max_differing_pixels: 90 },
        );
        expect(response.status).toBe(201);
        expect(response.body.golden).toMatchObject({
          width: 300,
          height: 300,
          bands: 6,
          tolerance: 0,
          max_differing_pixels: 90,
        });
        expect(response.body.golden.differing_pixels).toBeLessThanOrEqual(90);
        const stored = await stack.store.list(`models/${response.body.id}/`);
        expect(stored.map((file) => file.key).sort()).toEqual(
          [
            response.body.model_file_path,
            `models/${response.body.id}/golden/expected-output.tif`,
            `models/${response.body.id}/golden/input.tif`,
          ].sort(),
        );
      });

      it('refuses with 422, the max difference and the count of differing pixels, a model whose output drifts', async () => {
        const drifted = path.join(workDir, 'golden-drifted.tif');
        await runPython('test/support/perturb_raster.py', [expected, drifted, '--pixels', '500']);
        const name = `golden-drift-${Date.now()}`;
        const response = await registerWithGolden(
          name,
          { golden_input: goldenInput, golden_output: drifted },
          { max_differing_pixels: 90 },
        );
        expect(response.status).toBe(422);
        expect(response.body.field).toBe('golden_output');
        expect(response.body.message).toMatch(
          /differs from the expected output at \d+ of 90000 pixels \(max difference [12]/,
        );
        expect(response.body.details.differing_pixels).toBeGreaterThanOrEqual(500 - 90);
        expect(response.body.details.max_difference).toBeGreaterThanOrEqual(1);
        // Nothing stored: no row, no file.
        const rows = await stack.dataSource.query('SELECT id FROM models WHERE display_name = $1', [name]);
        expect(rows).toEqual([]);
        const modelFiles = await stack.store.list('models/');
        const byModel = new Set(modelFiles.map((file) => file.key.split('/')[1]));
        const all = await stack.dataSource.query('SELECT id FROM models');
        expect([...byModel].every((id) => all.some((row: { id: string }) => row.id === id))).toBe(true);
      });

      it('names the golden field at fault: missing half of the pair, not a GeoTIFF, another grid', async () => {
        const half = await registerWithGolden(`golden-half-${Date.now()}`, { golden_input: goldenInput });
        expect(half.status).toBe(400);
        expect(half.body.field).toBe('golden_output');
        const junk = path.join(workDir, 'junk.tif');
        fs.writeFileSync(junk, 'not a tiff');
        const notTiff = await registerWithGolden(`golden-junk-${Date.now()}`, {
          golden_input: junk,
          golden_output: expected,
        });
        expect(notTiff.status).toBe(422);
        expect(notTiff.body.field).toBe('golden_input');
        const other = path.join(workDir, 'golden-other-grid.tif');
        await makeSampleGeoTiff(other, 64, 3);
        const grid = await registerWithGolden(`golden-grid-${Date.now()}`, {
          golden_input: goldenInput,
          golden_output: other,
        });
        expect(grid.status).toBe(422);
        expect(grid.body.field).toBe('golden_output');
        expect(grid.body.message).toMatch(/64 x 64 pixels, but golden_input is 300 x 300/);
        const toleranceOnly = await api.registerModel(
          { ...metadata, display_name: `golden-alone-${Date.now()}`, golden: { tolerance: 1 } },
          demoModelPaths().model,
        );
        expect(toleranceOnly.status).toBe(400);
        const badTolerance = await registerWithGolden(
          `golden-bad-${Date.now()}`,
          { golden_input: goldenInput, golden_output: expected },
          { tolerance: -1 },
        );
        expect(badTolerance.status).toBe(400);
        expect(badTolerance.body.field).toMatch(/golden\.tolerance/);
      });
    });

    it('400 for a non-UUID id and 404 for an unknown one', async () => {
      expect((await api.get('/api/v2/models/nope')).status).toBe(400);
      expect((await api.get('/api/v2/models/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    });
  });

  describe('inference requests', () => {
    const valid = () => ({
      model_id: existingModel.id,
      spatial_domain: { urls: ['http://127.0.0.1:9/scene.tif'] },
      temporal_domain: ['2024-06-15'],
    });

    it.each([
      ['no model', (body: any) => ({ ...body, model_id: undefined }), 400, 'model_id'],
      ['a spatial domain with nothing in it', (body: any) => ({ ...body, spatial_domain: {} }), 400, 'spatial_domain'],
      [
        'a URL that is not http(s)',
        (body: any) => ({ ...body, spatial_domain: { urls: ['ftp://x/y.tif'] } }),
        400,
        'spatial_domain.urls.0',
      ],
      ['an impossible date', (body: any) => ({ ...body, temporal_domain: ['2024-02-30'] }), 400, 'temporal_domain.0'],
      ['missing temporal_domain', (body: any) => ({ ...body, temporal_domain: undefined }), 400, 'temporal_domain'],
      ['maxcc over 100', (body: any) => ({ ...body, maxcc: 101 }), 400, 'maxcc'],
      ['an unknown field', (body: any) => ({ ...body, colour: 'blue' }), 400, undefined],
      [
        'an unknown post_processing key',
        (body: any) => ({ ...body, post_processing: { sharpen: true } }),
        400,
        'post_processing',
      ],
      [
        'an unknown model id',
        (body: any) => ({ ...body, model_id: '00000000-0000-4000-8000-000000000000' }),
        422,
        'model_id',
      ],
      [
        'an unknown model name',
        (body: any) => ({ ...body, model_id: undefined, model_display_name: 'no-such-model' }),
        422,
        'model_display_name',
      ],
      [
        'permanent_water_masking without a configured reference',
        (body: any) => ({
          ...body,
          spatial_domain: { bbox: [[16.2, 48.1, 16.3, 48.2]] },
          post_processing: { permanent_water_masking: true },
        }),
        422,
        'post_processing.permanent_water_masking',
      ],
      [
        'cloud_masking of URL inputs (no classification band)',
        (body: any) => ({ ...body, post_processing: { cloud_masking: true } }),
        422,
        'post_processing.cloud_masking',
      ],
      [
        'a bbox without dates',
        (body: any) => ({ ...body, spatial_domain: { bbox: [[16.2, 48.1, 16.5, 48.3]] }, temporal_domain: [] }),
        422,
        'temporal_domain',
      ],
      [
        'an inverted bbox',
        (body: any) => ({ ...body, spatial_domain: { bbox: [[16.5, 48.1, 16.2, 48.3]] } }),
        400,
        'spatial_domain.bbox.0',
      ],
      [
        'an unknown generic processor',
        (body: any) => ({ ...body, generic_processor_id: '00000000-0000-4000-8000-000000000000' }),
        422,
        'generic_processor_id',
      ],
    ])('rejects %s', async (_label, mutate, status, field) => {
      const before = await api.get('/api/v2/inference');
      const response = await api.post('/api/v2/inference', mutate(valid()));
      expect(response.status).toBe(status);
      expect(response.body.statusCode).toBe(status);
      if (field) expect(response.body.field).toBe(field);
      expect(typeof response.body.message).toBe('string');
      const after = await api.get('/api/v2/inference');
      expect(after.body.total_records).toBe(before.body.total_records);
    });

    it('400 for a body that is not JSON', async () => {
      const response = await fetch(`${stack.baseUrl}/api/v2/inference`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${USERS.alice.key}`, 'Content-Type': 'application/json' },
        body: '{"model_id": ',
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as any).statusCode).toBe(400);
    });

    it('accepts a valid request (PENDING, one task) and lists and filters it', async () => {
      const created = await api.post('/api/v2/inference', valid());
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ status: 'PENDING', tasks_count_total: 1, tasks_count_waiting: 1 });
      const byModel = await api.get(`/api/v2/inference?model_id=${existingModel.id}&limit=5`);
      expect(byModel.body.results.map((row: { id: string }) => row.id)).toContain(created.body.id);
      expect((await api.get('/api/v2/inference?status=DONE')).status).toBe(400);
      const byName = await api.get(
        `/api/v2/inference?model_display_name=${encodeURIComponent(existingModel.display_name)}&created_by=${encodeURIComponent(USERS.alice.email)}`,
      );
      expect(byName.status).toBe(200);
      expect(byName.body.results.map((row: { id: string }) => row.id)).toContain(created.body.id);
      expect((await api.get('/api/v2/inference?model_display_name=no-such-model')).body).toMatchObject({
        results: [],
        total_records: 0,
      });
      const otherUser = await api.get(`/api/v2/inference?created_by=${encodeURIComponent(USERS.bob.email)}`);
      expect(otherUser.status).toBe(403);
      expect(otherUser.body).toMatchObject({ field: 'created_by' });
      const tasks = await api.get(`/api/v2/inference/${created.body.id}/tasks`);
      expect(tasks.body.tasks[0].pipeline_steps.map((step: { process_id: string }) => step.process_id)).toEqual([
        'terrakit-data-fetch',
        'model-inference',
        'push-to-geoserver',
      ]);
      expect((await api.get(`/api/v2/tasks/${tasks.body.tasks[0].task_id}/logs/not-a-step`)).status).toBe(404);
      expect((await api.get(`/api/v2/tasks/${tasks.body.tasks[0].task_id}/output-url`)).status).toBe(404);
      expect((await api.delete(`/api/v2/inference/${created.body.id}`)).status).toBe(204);
    });

    it('400 for a malformed inference id, 404 for an unknown one', async () => {
      expect((await api.get('/api/v2/inference/12')).status).toBe(400);
      expect((await api.get('/api/v2/inference/00000000-0000-4000-8000-000000000000')).status).toBe(404);
      expect((await api.get('/api/v2/tasks/whatever/output-url')).status).toBe(404);
    });
  });

  describe('bad input is a 4xx naming the field, never a 5xx, and nothing is stored', () => {
    const authorised = { Authorization: `Bearer ${USERS.alice.key}` };
    const counts = async () => ({
      inferences: (await api.get('/api/v2/inference?limit=1')).body.total_records,
      processors: (await api.get('/api/v2/generic-processor?limit=1')).body.total_records,
      models: (await api.get('/api/v2/models?limit=1')).body.total_records,
    });
    const inference = () => ({
      model_id: existingModel.id,
      spatial_domain: { urls: ['http://127.0.0.1:9/scene.tif'] },
      temporal_domain: ['2024-06-15'],
    });

    it.each([
      ['description', { description: 'flood\u0000' }, 'description'],
      ['model_display_name', { model_id: undefined, model_display_name: 'csmask\u0000' }, 'model_display_name'],
      ['location', { location: 'Vienna\u0000' }, 'location'],
      [
        'spatial_domain.urls',
        { spatial_domain: { urls: ['http://127.0.0.1:9/a\u0000.tif'] } },
        'spatial_domain.urls.0',
      ],
      ['fine_tuning_id', { fine_tuning_id: 'ft\u0000' }, 'fine_tuning_id'],
      ['an object key', { post_processing: { ['cloud\u0000']: true } }, 'post_processing.cloud\\u0000'],
    ])('a NUL character in the inference %s is 400', async (_label, patch, field) => {
      const before = await counts();
      const response = await api.post('/api/v2/inference', { ...inference(), ...patch });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request', field });
      expect(response.body.message).toMatch(/NUL/);
      expect(await counts()).toEqual(before);
    });

    it.each([
      ['/api/v2/inference?model_display_name=a%00b', 'model_display_name'],
      ['/api/v2/inference?created_by=alice%00', 'created_by'],
      ['/api/v2/generic-processor?limit=5&x=%00', 'x'],
    ])('a NUL character in a query value is 400 (%s)', async (route, field) => {
      const response = await api.get(route);
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ statusCode: 400, field });
    });

    it('a NUL character in a processor name or a model description (multipart JSON) is 400', async () => {
      const before = await counts();
      const processor = await api.uploadProcessor({ name: 'nul\u0000name' }, 'print(1)\n', 'nul.py');
      expect(processor.status).toBe(400);
      expect(processor.body).toMatchObject({ field: 'generic_processor.name' });
      const model = await api.registerModel(
        { ...metadata, display_name: `nul-${Date.now()}`, description: 'a\u0000b' },
        demoModelPaths().model,
      );
      expect(model.status).toBe(400);
      expect(model.body).toMatchObject({ field: 'model.description' });
      expect(await counts()).toEqual(before);
    });

    describe.each(['/api/v2/generic-processor', '/api/v2/inference/upload', '/api/v2/models'])(
      'malformed multipart on POST %s',
      (route) => {
        it.each([
          ['no boundary', 'multipart/form-data', 'whatever'],
          [
            'a malformed part header',
            'multipart/form-data; boundary=XYZ',
            '--XYZ\r\nContent-Disposition form-data; name="x"\r\n\r\nvalue\r\n--XYZ--\r\n',
          ],
        ])('%s is 400 naming the body', async (_label, contentType, body) => {
          const before = await counts();
          const response = await fetch(`${stack.baseUrl}${route}`, {
            method: 'POST',
            headers: { ...authorised, 'Content-Type': contentType },
            body,
          });
          expect(response.status).toBe(400);
          expect(await response.json()).toMatchObject({
            statusCode: 400,
            error: 'Bad Request',
            field: 'body',
            message: expect.stringMatching(/malformed multipart/),
          });
          expect(await counts()).toEqual(before);
        });
      },
    );

    it.each(['/api/v2/inference', '/api/v2/models', '/api/v2/generic-processor'])(
      'an offset beyond bigint on %s is 400, the cap itself an empty page',
      async (route) => {
        for (const offset of ['99999999999999999999', '9223372036854775808', '1e300']) {
          const response = await api.get(`${route}?offset=${offset}`);
          expect(response.status).toBe(400);
          expect(response.body).toMatchObject({ statusCode: 400, field: 'offset' });
        }
        const capped = await api.get(`${route}?offset=9007199254740991`);
        expect(capped.status).toBe(200);
        expect(capped.body.results).toEqual([]);
      },
    );

    it('malformed JSON is 400 in the documented shape', async () => {
      const response = await fetch(`${stack.baseUrl}/api/v2/inference`, {
        method: 'POST',
        headers: { ...authorised, 'Content-Type': 'application/json' },
        body: '{"model_id": ',
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: expect.stringMatching(/^body: not valid JSON/),
        field: 'body',
      });
    });

    it('a JSON body over the size limit is 413 in the documented shape', async () => {
      const before = await counts();
      const response = await fetch(`${stack.baseUrl}/api/v2/inference`, {
        method: 'POST',
        headers: { ...authorised, 'Content-Type': 'application/json' },
        body: JSON.stringify({ ...inference(), description: 'x'.repeat(6 * 1024 * 1024) }),
      });
      expect(response.status).toBe(413);
      expect(await response.json()).toEqual({
        statusCode: 413,
        error: 'Payload Too Large',
        message: expect.stringMatching(/^body: larger than the 5242880-byte request size limit/),
        field: 'body',
      });
      expect(await counts()).toEqual(before);
    });

    it.each([
      ['PUT', '/api/v2/models', 'GET, HEAD, POST'],
      ['PATCH', '/api/v2/inference', 'GET, HEAD, POST'],
      ['PUT', '/api/v2/inference/00000000-0000-4000-8000-000000000000/stop', 'POST'],
      ['DELETE', '/api/v2/tasks/x/output-url', 'GET, HEAD'],
    ])('%s %s is 405 with Allow', async (method, route, allow) => {
      const response = await fetch(`${stack.baseUrl}${route}`, { method, headers: authorised });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe(allow);
      expect(await response.json()).toMatchObject({ statusCode: 405, error: 'Method Not Allowed' });
      // A path no method serves stays 404.
      expect((await fetch(`${stack.baseUrl}/api/v2/no-such-thing`, { method, headers: authorised })).status).toBe(404);
    });
  });

  /**
   * schemathesis over /docs-json, bounded (a few examples per operation, 45 s): no answer may be a 5xx or
   * differ from the document (status code, media type, schema). The model above, a processor and an
   * inference are there so the lists' item schemas are checked too. `npm run fuzz:api` runs a longer one.
   */
  it('survives a schema-driven fuzz run: 0 server errors, 0 answers off the document', async () => {
    await api.uploadProcessor({ name: 'fuzz-seed', processor_parameters: { k: 1 } }, 'import sys\n', 'seed.py');
    await api.post('/api/v2/inference', {
      model_id: existingModel.id,
      spatial_domain: { urls: ['http://127.0.0.1:9/scene.tif'] },
      temporal_domain: [],
    });
    let transcript = '';
    const summary = await runSchemathesis({
      baseUrl: stack.baseUrl,
      apiKey: USERS.alice.key,
      maxExamples: 5,
      maxTimeSeconds: 45,
      reportDir: path.join(workDir, 'fuzz'),
      output: (chunk) => (transcript += chunk),
    });
    if (Object.keys(summary.failures).length > 0) console.log(transcript.slice(-8000));
    expect(summary).toMatchObject({ serverErrors: 0, schemaViolations: 0, failures: {}, failedOperations: [] });
    expect(summary.operations).toBeGreaterThanOrEqual(35);
    expect(summary.requests).toBeGreaterThan(500);
  }, 180_000);
});
