import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff, REPO_ROOT, runPython } from '../support/python';
import { demoModelPaths } from '../support/services';
import { freePort, startTestStack, USERS, type TestStack } from '../support/stack';
import { ensureBuilt } from '../support/worker-process';

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const ndjson = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));

/** The built `geo-inference` binary (package.json bin) against the real stack, as a user's shell runs it. */
describe('geo-inference CLI', () => {
  let stack: TestStack;
  let api: ApiClient;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;
  let modelName: string;

  function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli', 'main.js'), ...args], {
      env: { PATH: process.env.PATH!, GEO_API_URL: stack.baseUrl, GEO_API_KEY: USERS.alice.key, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  beforeAll(async () => {
    ensureBuilt();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-cli-'));
    fs.mkdirSync(path.join(workDir, 'scenes'));
    await makeSampleGeoTiff(path.join(workDir, 'scenes', 'a.tif'), 256, 21);
    fs.copyFileSync(path.join(workDir, 'scenes', 'a.tif'), path.join(workDir, 'scenes', 'b.TIFF'));
    fs.writeFileSync(path.join(workDir, 'scenes', 'notes.txt'), 'not a scene');
    fixtures = await startFixtureServer(path.join(workDir, 'scenes'));
    stack = await startTestStack({ storage: 'minio' });
    api = new ApiClient(stack.baseUrl);
    modelName = `csmask-cli-${Date.now()}`;
    fs.writeFileSync(path.join(workDir, 'model.json'), JSON.stringify(demoModelMetadata(demoModelPaths().meta)));
  });

  afterAll(async () => {
    await stack?.stop();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('registers a model and lists it, as tables and as JSON', async () => {
    const registered = await cli([
      '--json',
      'models',
      'register',
      demoModelPaths().model,
      '--metadata',
      path.join(workDir, 'model.json'),
      '--name',
      modelName,
    ]);
    expect(registered.code).toBe(0);
    expect(JSON.parse(registered.stdout)).toMatchObject({ display_name: modelName, status: 'READY' });
    const listed = await cli(['models', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).results.map((model: { display_name: string }) => model.display_name)).toContain(
      modelName,
    );
    const table = await cli(['models', 'list']);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+STATUS/);
    expect(table.stdout).toContain(modelName);
  });

  it('uploads and lists a processor', async () => {
    const script = path.join(REPO_ROOT, 'test', 'fixtures', 'processors', 'invert_mask.py');
    const uploaded = await cli([
      'processors',
      'upload',
      script,
      '--name',
      'invert',
      '--parameters',
      '{"k":1}',
      '--json',
    ]);
    expect(uploaded.code).toBe(0);
    const processor = JSON.parse(uploaded.stdout);
    expect(processor).toMatchObject({ name: 'invert', processor_parameters: { k: 1 } });
    const listed = await cli(['processors', 'list', '--json']);
    expect(JSON.parse(listed.stdout).results.map((entry: { id: string }) => entry.id)).toContain(processor.id);
  });

  it('runs an inference on a URL, watches it to COMPLETED and downloads outputs, COCO, logs, the STAC catalog and vectors', async () => {
    const run = await cli([
      'run',
      '--model',
      modelName,
      '--url',
      fixtures.url('a.tif'),
      '--date',
      '2024-06-15',
      '--json',
    ]);
    expect(run.code).toBe(0);
    const created = JSON.parse(run.stdout);
    expect(created).toMatchObject({ status: 'PENDING', tasks_count_total: 1, model_display_name: modelName });

    const watched = await cli(['watch', created.id]);
    expect([watched.code, watched.stdout]).toEqual([0, `inference ${created.id} COMPLETED\n`]);
    // Without a terminal: one line per change on stderr.
    expect(watched.stderr).toMatch(/model-inference RUNNING/);
    expect(watched.stderr).toMatch(/output ready/);

    const events = await cli(['watch', created.id, '--json']);
    expect(events.code).toBe(0);
    const lines = ndjson(events.stdout);
    expect(lines.map((line) => line.id)).toEqual(lines.map((_, index) => index + 1));
    expect(lines.at(-1)).toMatchObject({ event: 'inference.end', data: { status: 'COMPLETED' } });

    const target = path.join(workDir, 'download');
    const downloaded = await cli(['download', created.id, target, '--json']);
    expect(downloaded.code).toBe(0);
    const manifest = JSON.parse(downloaded.stdout);
    const task = (await api.get(`/api/v2/inference/${created.id}/tasks`)).body.tasks[0];
    const output = manifest.files.find((file: { kind: string }) => file.kind === 'output');
    expect(output).toMatchObject({ task_id: task.task_id, path: path.join(target, 'outputs', `${task.task_id}.tif`) });
    const served = Buffer.from(
      await (await fetch((await api.get(`/api/v2/tasks/${task.task_id}/output-url`)).body.url)).arrayBuffer(),
    );
    expect(output.sha256).toBe(sha256(served));
    expect(sha256(fs.readFileSync(output.path))).toBe(sha256(served));
    expect(output.bytes).toBe(served.length);

    const coco = JSON.parse(fs.readFileSync(path.join(target, 'coco.json'), 'utf8'));
    expect(coco).toEqual((await api.get(`/api/v2/inference/${created.id}/coco`)).body);
    const logs = manifest.files.filter((file: { kind: string }) => file.kind === 'log');
    expect(logs.map((file: { step_id: string }) => file.step_id).sort()).toEqual(
      ['model-inference', 'push-to-geoserver', 'terrakit-data-fetch'].sort(),
    );
    expect(fs.readFileSync(path.join(target, 'logs', task.task_id, 'model-inference.log'), 'utf8')).toBe(
      (await api.get(`/api/v2/tasks/${task.task_id}/logs/model-inference`)).text,
    );

    // The STAC catalog as a static copy (relative links, assets beside the Items) that validates offline, and
    // the vectors as served.
    const item = JSON.parse(fs.readFileSync(path.join(target, 'stac', task.task_id, 'item.json'), 'utf8'));
    expect(item.assets.prediction.href).toMatch(/^\.\/[\w.-]+\.tif$/);
    expect(item.links.map((link: { href: string }) => link.href)).toContain('../collection.json');
    const report = JSON.parse(
      (await runPython('test/support/validate_stac.py', [path.join(target, 'stac', 'collection.json')]))
        .trim()
        .split('\n')
        .pop()!,
    );
    expect(report.problems).toEqual([]);
    expect(report.items).toBe(1);
    const vectors = manifest.files.filter((file: { kind: string }) => file.kind === 'vectors');
    expect(vectors.map((file: { path: string }) => path.basename(file.path)).sort()).toEqual([
      'vectors.fgb',
      'vectors.geojson',
    ]);
    const servedVectors = await api.get(`/api/v2/inference/${created.id}/vectors?format=geojson`);
    expect(JSON.parse(fs.readFileSync(path.join(target, 'vectors.geojson'), 'utf8'))).toEqual(
      JSON.parse(servedVectors.text),
    );

    const listed = await cli(['ls', '--json', '--status', 'completed']);
    expect(JSON.parse(listed.stdout).results.map((entry: { id: string }) => entry.id)).toContain(created.id);
    const shown = await cli(['show', created.id]);
    expect(shown.stdout).toContain(`${task.task_id}  FINISHED`);
  });

  it('uploads a directory of GeoTIFFs and watches the run, NDJSON throughout', async () => {
    const run = await cli(['run', '--model', modelName, '--dir', path.join(workDir, 'scenes'), '--watch', '--json']);
    expect(run.code).toBe(0);
    const [created, ...events] = ndjson(run.stdout);
    expect(created).toMatchObject({ tasks_count_total: 2 });
    expect(events.at(-1)).toMatchObject({ event: 'inference.end', data: { status: 'COMPLETED' } });
    expect(events.filter((event) => event.event === 'task.output')).toHaveLength(2);
    const tasks = (await api.get(`/api/v2/inference/${created.id}/tasks`)).body.tasks;
    expect(tasks.map((task: { input: { file_name: string } }) => task.input.file_name).sort()).toEqual([
      'a.tif',
      'b.TIFF',
    ]);
  });

  it('exits non-zero when the inference fails, and retries it', async () => {
    const run = await cli(['run', '--model', modelName, '--url', fixtures.url('status/404'), '--watch']);
    expect(run.code).toBe(1);
    const id = /inference (\S+) PENDING/.exec(run.stdout)![1];
    expect(run.stdout).toContain(`inference ${id} FAILED`);
    const retried = await cli(['retry', id, '--json']);
    expect(retried.code).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({ status: 'PENDING', tasks_to_rerun: 1 });
    expect((await cli(['watch', id])).code).toBe(1);
  });

  it('stops a running inference', async () => {
    const run = await cli(['run', '--model', modelName, '--url', fixtures.url('a.tif'), '--json']);
    const { id } = JSON.parse(run.stdout);
    const stopped = await cli(['stop', id]);
    expect([stopped.code, stopped.stdout]).toEqual([0, expect.stringContaining('STOPPING')]);
    const watched = await cli(['watch', id]);
    expect([watched.code, watched.stdout]).toEqual([1, `inference ${id} STOPPED\n`]);
  });

  it('explains a wrong key, an unreachable API and a field error, with distinct exit codes', async () => {
    const wrongKey = await cli(['ls'], { GEO_API_KEY: 'not-a-key' });
    expect(wrongKey.code).toBe(4);
    expect(wrongKey.stderr).toMatch(/refused the credentials \(HTTP 401\).*GEO_API_KEY/);
    const noKey = await cli(['ls'], { GEO_API_KEY: '' });
    expect([noKey.code, noKey.stderr]).toEqual([4, 'error: no API key: set GEO_API_KEY or pass --api-key\n']);

    const closedPort = await freePort();
    const unreachable = await cli(['ls', '--json'], { GEO_API_URL: `http://127.0.0.1:${closedPort}` });
    expect(unreachable.code).toBe(5);
    expect(unreachable.stderr).toMatch(/cannot reach the API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(JSON.parse(unreachable.stdout)).toMatchObject({ exit_code: 5 });

    const badField = await cli(['run', '--model', modelName, '--url', 'ftp://example.com/a.tif', '--json']);
    expect(badField.code).toBe(3);
    expect(badField.stderr).toMatch(/HTTP 400: spatial_domain\.urls\.0: must be an http\(s\) URL/);
    expect(JSON.parse(badField.stdout)).toMatchObject({ status: 400, field: 'spatial_domain.urls.0', exit_code: 3 });

    const unknownModel = await cli(['run', '--model', 'no-such-model', '--url', fixtures.url('a.tif')]);
    expect(unknownModel.code).toBe(3);
    const usage = await cli(['run', '--url', fixtures.url('a.tif')]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--model/);
  });
});
