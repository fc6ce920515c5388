/**
 * Whole scenes through the real pipeline (issue 13): a generated 6-band uint16 tiled deflate GeoTIFF per size,
 * fetched by URL, segmented window by window by a worker process of its own, against bare onnxruntime over the
 * same windows in this process; the worker's peak RSS; a SIGKILL past half of the largest scene and the time the
 * retry takes to resume.
 *
 *   npm run bench:scene [-- --sizes 2745,5490,10980] [--resume-size 10980] [--no-resume]
 *   BENCH_TINY=1: one 700 x 700 scene, seconds; its figures mean nothing.
 * Runs through scripts/with-services.sh (PostgreSQL, MinIO, Temporal). Prints figures; not a test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import * as ort from 'onnxruntime-node';
import { parseArgs } from 'node:util';
import { demoModelMetadata } from '../scripts/demo-model';
import { createApiApp } from '../src/app';
import { OBJECT_STORE } from '../src/api/storage.module';
import { bandPlans, fillTile, nodataMask, planTiles, sessionOptionsFor } from '../src/geo/model/segmentation';
import { planSceneWindows } from '../src/geo/model/scene-windows';
import { fileByteSource, openWindowedGeoTiff } from '../src/geo/raster/windowed-geotiff';
import { loadConfig } from '../src/platform/config/config';
import type { ObjectStore } from '../src/platform/storage/object-store';
import { DEFAULT_TILE_BLENDING, type ModelInputDataSpec } from '../workflows/contract/model-spec';
import { python, repoRoot } from './bench-util';

const TINY = process.env.BENCH_TINY === '1';
const API_KEY = 'bench-key';
const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: TINY ? '700' : '2745,5490,10980' },
    'resume-size': { type: 'string' },
    'no-resume': { type: 'boolean', default: false },
  },
});
const SIZES = args.sizes!.split(',').map(Number);
const RESUME_SIZE = Number(args['resume-size'] ?? SIZES[SIZES.length - 1]);

async function api(base: string, method: string, route: string, body?: unknown): Promise<any> {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { Authorization: `Bearer ${API_KEY}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** RSS (bytes) of a process and all its descendants, from /proc. */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone
    }
  }
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      continue;
    }
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

class RssSampler {
  readonly samples: Array<{ at: number; rss: number }> = [];
  private timer: NodeJS.Timeout;
  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.samples.push({ at: Date.now(), rss: treeRss(this.pid) }), 250);
  }
  peak(from = 0, to = Infinity): number {
    return Math.max(0, ...this.samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.rss));
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** A Sentinel-2-like 6-band uint16 scene, tiled deflate, written strip by strip (a whole tile never in memory). */
function generateScene(file: string, size: number): void {
  python(['python/bench_windowed_scene.py', file, '--size', String(size)]);
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

function spawnWorker(env: Record<string, string>, logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(repoRoot(), 'dist', 'src', 'worker.js')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  return child;
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

/** Bare onnxruntime over the windows the worker plans: read each window, fill its tiles, session.run, nothing else. */
async function bareCompute(
  file: string,
  modelPath: string,
  spec: ModelInputDataSpec,
  windowMb: number,
): Promise<number> {
  const input = await openWindowedGeoTiff(await fileByteSource(file), path.basename(file));
  const session = await ort.InferenceSession.create(modelPath, sessionOptionsFor({}));
  const maxRows = Math.floor((windowMb * 1024 * 1024) / os.availableParallelism() / input.rowBytes);
  const blended = (spec.tile_blending ?? DEFAULT_TILE_BLENDING) !== 'center';
  const windows = planSceneWindows(input.height, spec.tile_size, spec.tile_overlap, blended, maxRows);
  const batch = 4;
  const perTile = spec.bands.length * spec.tile_size * spec.tile_size;
  const tensor = new Float32Array(batch * perTile);
  const started = performance.now();
  for (const window of windows) {
    const raster = await input.readWindow({
      x: 0,
      y: window.inputStart,
      w: input.width,
      h: window.inputEnd - window.inputStart,
    });
    const plans = bandPlans(spec, raster.bands, raster.bandCount);
    const nodata = nodataMask(
      plans.map((plan) => plan.source),
      spec.nodata ?? raster.nodata,
      raster.width * raster.height,
    );
    const tiles = planTiles(raster.width, raster.height, spec.tile_size, spec.tile_overlap);
    for (let i = 0; i < tiles.length; i += batch) {
      const taken = tiles.slice(i, i + batch);
      taken.forEach((tile, k) => fillTile(tensor, k * perTile, tile, spec.tile_size, raster.width, plans, nodata));
      const feeds = {
        [session.inputNames[0]!]: new ort.Tensor('float32', tensor.subarray(0, taken.length * perTile), [
          taken.length,
          spec.bands.length,
          spec.tile_size,
          spec.tile_size,
        ]),
      };
      const out = await session.run(feeds);
      for (const value of Object.values(out)) value.dispose?.();
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await input.close();
  await session.release();
  return seconds;
}

async function main(): Promise<void> {
  const modelPath = process.env.DEMO_MODEL_PATH;
  const metaPath = process.env.DEMO_MODEL_META_PATH;
  if (!modelPath || !metaPath || !process.env.DATABASE_URL)
    throw new Error('run through scripts/with-services.sh (needs DEMO_MODEL_PATH, DATABASE_URL, ...)');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-bench-scene-'));
  const server = http.createServer((request, response) => {
    const file = path.join(workDir, path.basename(request.url ?? ''));
    if (!fs.existsSync(file)) return void response.writeHead(404).end();
    response.writeHead(200, { 'Content-Length': fs.statSync(file).size, 'Content-Type': 'image/tiff' });
    fs.createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fileUrl = (name: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/${name}`;

  const workerEnv: Record<string, string> = {
    API_KEYS: `${API_KEY}:bench@example.com`,
    STORAGE_DRIVER: 'minio',
    STORAGE_BUCKET: 'geo-inference-bench',
    TEMPORAL_TASK_QUEUE: `bench-scene-${Date.now()}`,
    DATA_DIR: path.join(workDir, 'data'),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    // The fixture server is on this machine.
    FETCH_ALLOW_PRIVATE_ADDRESSES: 'true',
    // Tiny: windows of one tile row, so the scene path and the resume run in seconds.
    ...(TINY ? { MODEL_WINDOW_MIN_PIXELS: '1', MODEL_WINDOW_MB: '1' } : {}),
  };
  Object.assign(process.env, { ...workerEnv, PORT: '0' });
  const config = loadConfig();
  const app: INestApplication = await createApiApp({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const store = app.get<ObjectStore>(OBJECT_STORE);
  const metadata = demoModelMetadata(metaPath, `bench-scene-${Date.now()}`);
  const form = new FormData();
  form.set('model', JSON.stringify(metadata));
  form.set('model_file', new Blob([fs.readFileSync(modelPath)]), path.basename(modelPath));
  const model: any = await (
    await fetch(`${base}/api/v2/models`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}` },
      body: form,
    })
  ).json();
  console.log(
    `model ${path.basename(modelPath)} (tile ${metadata.model_input_data_spec.tile_size}, overlap ${metadata.model_input_data_spec.tile_overlap}), ${os.availableParallelism()} CPU(s), load average ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(
        ' ',
      )}, MODEL_WINDOW_MB ${config.MODEL_WINDOW_MB}, MODEL_WINDOW_MIN_PIXELS ${config.MODEL_WINDOW_MIN_PIXELS}`,
  );

  const modelStep = async (inferenceId: string) => {
    const tasks = await api(base, 'GET', `/api/v2/inference/${inferenceId}/tasks`);
    const task = tasks.tasks[0];
    return {
      taskId: task.task_id as string,
      step: task.pipeline_steps.find((step: any) => step.process_id === 'model-inference'),
    };
  };
  const waitFor = async (inferenceId: string) => {
    for (;;) {
      const status = await api(base, 'GET', `/api/v2/inference/${inferenceId}`);
      if (['COMPLETED', 'FAILED', 'STOPPED'].includes(status.status)) return status.status as string;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };

  const rows: string[] = [];
  for (const size of SIZES) {
    const name = `scene-${size}.tif`;
    const file = path.join(workDir, name);
    generateScene(file, size);
    const bareSeconds = await bareCompute(file, modelPath, metadata.model_input_data_spec, config.MODEL_WINDOW_MB);
    const worker = spawnWorker(workerEnv, path.join(workDir, `worker-${size}.log`));
    const sampler = new RssSampler(worker.pid!);
    try {
      const created = await api(base, 'POST', '/api/v2/inference', {
        model_id: model.id,
        spatial_domain: { urls: [fileUrl(name)] },
        temporal_domain: [],
      });
      const status = await waitFor(created.id);
      const { step } = await modelStep(created.id);
      const started = Date.parse(step.started_at);
      const finished = Date.parse(step.finished_at);
      const stepSeconds = (finished - started) / 1000;
      const line = `${size} x ${size}: ${status}, ${step.result?.tiles} tiles in ${step.result?.windows?.total ?? 1} window(s); model step ${stepSeconds.toFixed(1)} s vs bare onnxruntime ${bareSeconds.toFixed(1)} s (ratio ${(bareSeconds / stepSeconds).toFixed(2)}, target >= 0.9); worker tree peak RSS ${mib(sampler.peak(started, finished))} during the model step, ${mib(sampler.peak())} over the whole inference (input ${mib(fs.statSync(file).size)} on disk, ${mib(size * size * 12)} decoded)`;
      console.log(line);
      rows.push(line);
    } finally {
      sampler.stop();
      worker.kill('SIGTERM');
      await exited(worker);
    }
  }

  if (!args['no-resume']) {
    const name = `scene-${RESUME_SIZE}.tif`;
    if (!fs.existsSync(path.join(workDir, name))) generateScene(path.join(workDir, name), RESUME_SIZE);
    let worker = spawnWorker(workerEnv, path.join(workDir, 'worker-resume.log'));
    const created = await api(base, 'POST', '/api/v2/inference', {
      model_id: model.id,
      spatial_domain: { urls: [fileUrl(name)] },
      temporal_domain: [],
    });
    const { taskId } = await modelStep(created.id);
    const checkpointKey = `inferences/${created.id}/${taskId}/model-output.tif.parts/checkpoint`;
    let header: { nextWindow: number; windowsTotal: number } | undefined;
    const deadline = Date.now() + 30 * 60_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error('no checkpoint past half of the scene within 30 minutes');
      const bytes = (await store.exists(checkpointKey))
        ? await store.getObject(checkpointKey).catch(() => undefined)
        : undefined;
      if (bytes) {
        header = JSON.parse(bytes.subarray(4, 4 + bytes.readUInt32LE(0)).toString('utf8'));
        if (header!.nextWindow >= Math.ceil(header!.windowsTotal / 2)) break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    worker.kill('SIGKILL');
    const killedAt = Date.now();
    await exited(worker);
    worker = spawnWorker(workerEnv, path.join(workDir, 'worker-resume.log'));
    // The retry starts once Temporal sees the lost attempt's heartbeat time out; it resumes from the checkpoint.
    let resumedAt: number | undefined;
    for (;;) {
      const bytes = await store.getObject(checkpointKey).catch(() => undefined);
      const now = bytes ? JSON.parse(bytes.subarray(4, 4 + bytes.readUInt32LE(0)).toString('utf8')) : undefined;
      if (!now || now.nextWindow > header!.nextWindow) {
        resumedAt = Date.now();
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const status = await waitFor(created.id);
    const doneAt = Date.now();
    const { step } = await modelStep(created.id);
    const line = `resume ${RESUME_SIZE} x ${RESUME_SIZE}: killed after ${header!.nextWindow} of ${header!.windowsTotal} windows; the retry committed its first window ${((resumedAt - killedAt) / 1000).toFixed(1)} s after the kill, computed ${step.result?.windows?.computed} of ${step.result?.windows?.total} windows, finished ${((doneAt - killedAt) / 1000).toFixed(1)} s after the kill, ${status}`;
    console.log(line);
    rows.push(line);
    worker.kill('SIGTERM');
    await exited(worker);
  }
  console.log('\nsummary\n' + rows.map((row) => `- ${row}`).join('\n'));
  await app.close();
  server.close();
  fs.rmSync(workDir, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
