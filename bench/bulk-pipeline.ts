/**
 * Whole-pipeline throughput of a bulk job against bare compute, plus API latency under concurrent clients.
 *
 *   npm run bench:bulk [-- FILES]      (default 1000; BENCH_TINY=1: 4 files, 5 + 20 API requests)
 *
 * 1. Bare compute: the same files read, segmented with the same model and written, in one process loop.
 * 2. Pipeline: one bulk upload through the REST API -> Temporal workflow (child batches) -> activities, with
 *    the API and one worker in this process on MinIO, PostgreSQL and the Temporal dev server of with-services.
 * 3. POST /api/v2/inference and GET /api/v2/inference/{id} latency (p50/p99) and requests/s, 50 clients.
 * Prints figures; not a test.
 */
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { readGeoTiff } from '../src/geo/raster/decode';
import { writeMaskGeoTiff } from '../src/geo/raster/mask-geotiff';
import { ModelThreadPool } from '../src/geo/model/model-thread';
import { OnnxSegmenter } from '../src/geo/model/segmentation';
import { demoModelMetadata } from '../scripts/demo-model';
import { createApiApp } from '../src/app';
import { loadConfig } from '../src/platform/config/config';
import type { ObjectStore } from '../src/platform/storage/object-store';
import { OBJECT_STORE } from '../src/api/storage.module';
import { createPipelineWorkers } from '../src/pipeline/worker';
import { cpuDelta, cpuSecondsByCommand, cpuSecondsByThread, python } from './bench-util';

const TINY = process.env.BENCH_TINY === '1';
const FILES = Number(process.argv[2] ?? (TINY ? 4 : 1000));
const DISTINCT_SCENES = TINY ? 2 : 8;
const API_KEY = 'bench-key';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function api(base: string, method: string, route: string, body?: unknown): Promise<any> {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { Authorization: `Bearer ${API_KEY}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function loadTest(label: string, total: number, clients: number, call: () => Promise<unknown>): Promise<void> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        next += 1;
        const t0 = performance.now();
        await call();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${label.padEnd(34)} ${total} requests, ${clients} clients: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, ${(total / seconds).toFixed(0)} req/s`,
  );
}

async function main(): Promise<void> {
  const modelPath = process.env.DEMO_MODEL_PATH;
  const metaPath = process.env.DEMO_MODEL_META_PATH;
  if (!modelPath || !metaPath || !process.env.DATABASE_URL)
    throw new Error('run through scripts/with-services.sh (needs DEMO_MODEL_PATH, DATABASE_URL, ...)');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-bench-bulk-'));
  const scenes = Array.from({ length: DISTINCT_SCENES }, (_, index) => path.join(workDir, `scene-${index}.tif`));
  for (const [index, scene] of scenes.entries())
    python(['python/make_sample_geotiff.py', scene, '--size', '256', '--seed', String(100 + index)]);
  const files = Array.from({ length: FILES }, (_, index) => scenes[index % DISTINCT_SCENES]!);
  const metadata = demoModelMetadata(metaPath, `bench-${Date.now()}`);
  console.log(
    `${FILES} files of 6 x 256 x 256 (uint16, ${fs.statSync(scenes[0]!).size} bytes each), model ${path.basename(modelPath)}, ${os.cpus().length} CPU(s)`,
  );

  // BENCH_PARTS=pipeline skips the bare loop and the API load (profiling runs).
  const parts = new Set((process.env.BENCH_PARTS ?? 'bare,pipeline,api').split(','));
  // 1. Bare compute.
  const bareThreads = new ModelThreadPool(1);
  const segmenter = await OnnxSegmenter.load(bareThreads, modelPath, metadata.model_input_data_spec, { batchSize: 1 });
  const bareStarted = performance.now();
  for (const [index, file] of (parts.has('bare') ? files : []).entries()) {
    const raster = await readGeoTiff(file);
    const mask = await segmenter.segment(raster);
    await writeMaskGeoTiff(
      path.join(workDir, `bare-${index % 4}.tif`),
      mask,
      raster.width,
      raster.height,
      raster.georef,
      { nodata: 255 },
    );
  }
  const bareSeconds = (performance.now() - bareStarted) / 1000;
  await bareThreads.close();
  console.log(
    `bare compute (read + model + write loop) ${bareSeconds.toFixed(1)} s, ${(FILES / bareSeconds).toFixed(2)} tiles/s`,
  );

  // 2. Whole pipeline.
  Object.assign(process.env, {
    API_KEYS: `${API_KEY}:bench@example.com`,
    STORAGE_DRIVER: 'minio',
    STORAGE_BUCKET: 'geo-inference-bench',
    TEMPORAL_TASK_QUEUE: `bench-${Date.now()}`,
    DATA_DIR: path.join(workDir, 'data'),
    PORT: '0',
    // Per-activity info lines for 1,000 tasks would be measured too (and the API load's inferences fail
    // their downloads on purpose: their warnings are expected).
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
    // The default thread settings (auto: a model thread per core, one onnxruntime thread each while runs are side
    // by side); set MODEL_CONCURRENCY / ONNX_INTRA_OP_THREADS to compare hand-tuned ones.
    ...(process.env.MODEL_CONCURRENCY ? { MODEL_CONCURRENCY: process.env.MODEL_CONCURRENCY } : {}),
    ...(process.env.ONNX_INTRA_OP_THREADS ? { ONNX_INTRA_OP_THREADS: process.env.ONNX_INTRA_OP_THREADS } : {}),
  });
  const config = loadConfig();
  const app: INestApplication = await createApiApp({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const store = app.get<ObjectStore>(OBJECT_STORE);
  const workers = await createPipelineWorkers({ config, dataSource: app.get(DataSource), store });
  const running = workers.run();
  try {
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

    const cpuBefore = cpuSecondsByCommand();
    const threadsBefore = cpuSecondsByThread();
    const pipelineStarted = performance.now();
    const upload = new FormData();
    upload.append('inference', JSON.stringify({ model_id: model.id, description: 'bulk benchmark' }));
    for (const [index, file] of files.entries())
      upload.append('files', new Blob([fs.readFileSync(file)]), `tile-${index}.tif`);
    const created: any = await (
      await fetch(`${base}/api/v2/inference/upload`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${API_KEY}` },
        body: upload,
      })
    ).json();
    const uploadSeconds = (performance.now() - pipelineStarted) / 1000;
    const cpuAfterUpload = cpuSecondsByCommand();
    const threadsAfterUpload = cpuSecondsByThread();
    // BENCH_PROFILE=file.cpuprofile: a CPU profile of this process's main thread while the tasks run.
    const profiler = process.env.BENCH_PROFILE ? new inspector.Session() : undefined;
    if (profiler) {
      profiler.connect();
      await new Promise((resolve) => profiler.post('Profiler.enable', () => profiler.post('Profiler.start', resolve)));
    }
    let status: any;
    for (;;) {
      status = await api(base, 'GET', `/api/v2/inference/${created.id}`);
      if (['COMPLETED', 'FAILED', 'STOPPED'].includes(status.status)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const pipelineSeconds = (performance.now() - pipelineStarted) / 1000;
    if (profiler) {
      const profile = await new Promise((resolve, reject) =>
        profiler.post('Profiler.stop', (error, result) => (error ? reject(error) : resolve(result.profile))),
      );
      fs.writeFileSync(process.env.BENCH_PROFILE!, JSON.stringify(profile));
      profiler.disconnect();
    }
    console.log(
      `pipeline (upload ${uploadSeconds.toFixed(1)} s + run ${(pipelineSeconds - uploadSeconds).toFixed(1)} s) ${pipelineSeconds.toFixed(1)} s wall, ${(FILES / pipelineSeconds).toFixed(2)} tiles/s, status ${status.status} (${status.tasks_count_success}/${status.tasks_count_total} finished), step groups of ${config.INFERENCE_STEP_GROUP_SIZE}, ${config.MODEL_CONCURRENCY || `auto (${os.availableParallelism()})`} model thread(s) x ${config.ONNX_INTRA_OP_THREADS || 'auto'} onnxruntime thread(s)`,
    );
    console.log(
      `CPU seconds (${os.cpus().length} cores): upload ${cpuDelta(cpuBefore, cpuAfterUpload)}; run ${cpuDelta(cpuAfterUpload, cpuSecondsByCommand())}`,
    );
    console.log(
      `  this process's threads: upload ${cpuDelta(threadsBefore, threadsAfterUpload)}; run ${cpuDelta(threadsAfterUpload, cpuSecondsByThread())}`,
    );
    console.log(
      `pipeline / bare compute throughput ratio: ${(bareSeconds / pipelineSeconds).toFixed(2)} (target >= 0.8)`,
    );

    if (!parts.has('api')) return;
    // 3. API latency under 50 concurrent clients (inferences whose URL points nowhere: cheap to fail).
    const ids: string[] = [];
    await loadTest('POST /api/v2/inference', TINY ? 5 : 500, TINY ? 5 : 50, async () => {
      const response = await api(base, 'POST', '/api/v2/inference', {
        model_id: model.id,
        spatial_domain: { urls: ['http://127.0.0.1:9/none.tif'] },
        temporal_domain: [],
      });
      ids.push(response.id);
    });
    await loadTest('GET /api/v2/inference/{id}', TINY ? 20 : 2000, TINY ? 5 : 50, () =>
      api(base, 'GET', `/api/v2/inference/${ids[Math.floor(Math.random() * ids.length)]}`),
    );
  } finally {
    workers.shutdown();
    await running.catch(() => undefined);
    await app.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
