/**
 * Model throughput: the same N model-ready tiles through onnxruntime-node (this process) and Python
 * onnxruntime (python/bench_inference.py), in one run. Only session.run is timed, after a warm-up.
 * Then the same tiles as N separate 256 x 256 rasters through OnnxSegmenter.segment, all at once (model
 * threads, runs filled across calls), with the ticks of a 5 ms interval on the main thread meanwhile.
 *
 *   npm run bench:inference [-- N]      (default 24 tiles)
 * Env: BENCH_THREADS (intra-op threads, default all CPUs), BENCH_BATCHES (default "1,4,8"), BENCH_ROUNDS
 * (default 3); BENCH_TINY=1: 4 tiles, batch 4, one round.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ModelInputDataSpec } from '../workflows/contract/model-spec';
import { ModelThreadPool } from '../src/geo/model/model-thread';
import { readGeoTiff } from '../src/geo/raster/decode';
import type { Raster, RasterTypedArray } from '../src/geo/raster/raster';
import {
  buildModelInput,
  OnnxSegmenter,
  planTiles,
  sessionOptionsFor,
  type PixelWindow,
  type SegmenterOptions,
} from '../src/geo/model/segmentation';
import { python, repoRoot } from './bench-util';

interface Result {
  label: string;
  batch: number;
  tilesPerSecond: number;
  note?: string;
}

/** Bare model throughput: session.run on this thread, with the session options OnnxSegmenter uses. */
async function timeNode(
  modelPath: string,
  spec: ModelInputDataSpec,
  input: Float32Array,
  n: number,
  options: SegmenterOptions,
  label: string,
): Promise<Result> {
  const session = await ort.InferenceSession.create(modelPath, sessionOptionsFor(options));
  const inputName = session.inputNames[0]!;
  const t = spec.tile_size;
  const c = spec.bands.length;
  const perTile = c * t * t;
  const batch = options.batchSize ?? 4;
  const run = async (start: number, count: number) => {
    const feed = new ort.Tensor('float32', input.subarray(start * perTile, (start + count) * perTile), [
      count,
      c,
      t,
      t,
    ]);
    const out = await session.run({ [inputName]: feed });
    for (const value of Object.values(out)) value.dispose?.();
  };
  await run(0, Math.min(batch, n)); // warm-up
  const begin = process.hrtime.bigint();
  for (let i = 0; i < n; i += batch) await run(i, Math.min(batch, n - i));
  const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
  await session.release();
  return { label, batch, tilesPerSecond: n / seconds };
}

/** A window of `raster` as a raster of its own (bands copied). */
function cropRaster(raster: Raster, window: PixelWindow): Raster {
  const bands = raster.bands.map((band) => {
    const out = new (band.constructor as new (length: number) => RasterTypedArray)(window.w * window.h);
    for (let row = 0; row < window.h; row++)
      out.set(
        band.subarray(
          (window.y + row) * raster.width + window.x,
          (window.y + row) * raster.width + window.x + window.w,
        ),
        row * window.w,
      );
    return out;
  });
  return { ...raster, width: window.w, height: window.h, bands };
}

/** All rasters through OnnxSegmenter.segment at once (model threads); counts main-thread ticks meanwhile. */
async function timeSegmentCalls(
  threads: ModelThreadPool,
  modelPath: string,
  spec: ModelInputDataSpec,
  rasters: Raster[],
  options: SegmenterOptions,
  label: string,
): Promise<Result> {
  const segmenter = await OnnxSegmenter.load(threads, modelPath, spec, options);
  await segmenter.segment(rasters[0]!); // warm-up
  let ticks = 0;
  const timer = setInterval(() => (ticks += 1), 5);
  const begin = process.hrtime.bigint();
  await Promise.all(rasters.map((raster) => segmenter.segment(raster)));
  const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
  clearInterval(timer);
  return {
    label,
    batch: segmenter.batchSize,
    tilesPerSecond: rasters.length / seconds,
    note: `main thread ticked ${ticks} x 5 ms in ${(seconds * 1000).toFixed(0)} ms`,
  };
}

async function main(): Promise<void> {
  const tiny = process.env.BENCH_TINY === '1';
  const n = Number(process.argv[2] ?? (tiny ? 4 : 24));
  const modelPath = process.env.DEMO_MODEL_PATH;
  if (!modelPath || !fs.existsSync(modelPath)) throw new Error('set DEMO_MODEL_PATH to ukis-csmask model_6b_l2a.onnx');
  const threads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
  const batches = (process.env.BENCH_BATCHES ?? (tiny ? '4' : '1,4,8')).split(',').map(Number);
  const spec: ModelInputDataSpec = JSON.parse(
    fs.readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'csmask-6b-l2a.spec.json'), 'utf8'),
  );
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-inference-'));
  const modelThreads = new ModelThreadPool(1);
  try {
    const sample = path.join(tmp, 'sample.tif');
    python([path.join('python', 'make_sample_geotiff.py'), sample, '--size', '1024']);
    const raster = await readGeoTiff(sample);
    // N distinct 256x256 windows from the scene (stride 128).
    const tiles = planTiles(raster.width, raster.height, spec.tile_size, 128).slice(0, n);
    if (tiles.length < n) throw new Error(`only ${tiles.length} tiles available`);
    const input = buildModelInput(raster, spec, tiles);
    const tileRasters = tiles.map((tile) => cropRaster(raster, tile));
    const tilesFile = path.join(tmp, 'tiles.f32');
    fs.writeFileSync(tilesFile, Buffer.from(input.buffer, input.byteOffset, input.byteLength));
    console.log(
      `${n} tiles of ${spec.bands.length}x${spec.tile_size}x${spec.tile_size}, model ${path.basename(modelPath)}; node ${process.version}, onnxruntime-node ${require('onnxruntime-node/package.json').version}, ${os.cpus().length} CPU(s), ${threads} intra-op thread(s)`,
    );

    // Rounds alternate node and python so that load from other processes hits both alike; the best
    // round of each configuration is reported.
    const rounds = Number(process.env.BENCH_ROUNDS ?? (tiny ? 1 : 3));
    const all: Result[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const batch of batches) {
        all.push(
          await timeNode(modelPath, spec, input, n, { intraOpThreads: threads, batchSize: batch }, 'node sequential'),
        );
      }
      all.push(
        await timeNode(
          modelPath,
          spec,
          input,
          n,
          { intraOpThreads: threads, batchSize: 4, executionMode: 'parallel' },
          'node parallel',
        ),
      );
      all.push(
        await timeNode(
          modelPath,
          spec,
          input,
          n,
          { intraOpThreads: threads, batchSize: 4, graphOptimizationLevel: 'basic' },
          'node opt=basic',
        ),
      );
      for (const batch of [1, 4])
        all.push(
          await timeSegmentCalls(
            modelThreads,
            modelPath,
            spec,
            tileRasters,
            { intraOpThreads: threads, batchSize: batch },
            'segment(), N calls',
          ),
        );
      const out = python([
        path.join('python', 'bench_inference.py'),
        modelPath,
        tilesFile,
        String(n),
        String(spec.bands.length),
        String(spec.tile_size),
        '--batch-sizes',
        batches.join(','),
        '--threads',
        String(threads),
      ]);
      for (const line of out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))) {
        const r = JSON.parse(line) as { batch: number; tiles_per_s: number; ort: string };
        all.push({ label: `python ort ${r.ort}`, batch: r.batch, tilesPerSecond: r.tiles_per_s });
      }
    }
    const results: Result[] = [];
    for (const r of all) {
      const existing = results.find((e) => e.label === r.label && e.batch === r.batch);
      if (!existing) results.push({ ...r });
      else if (r.tilesPerSecond > existing.tilesPerSecond) Object.assign(existing, r);
    }
    console.log(
      `best of ${rounds} alternating rounds; load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    for (const r of results)
      console.log(
        `${r.label.padEnd(24)} batch ${String(r.batch).padStart(2)}  ${r.tilesPerSecond.toFixed(2).padStart(7)} tiles/s${r.note ? `  (${r.note})` : ''}`,
      );
    const best = (prefix: string) =>
      Math.max(...results.filter((r) => r.label.startsWith(prefix)).map((r) => r.tilesPerSecond));
    for (const batch of batches) {
      const nodeR = results.find((r) => r.label === 'node sequential' && r.batch === batch)!;
      const pyR = results.find((r) => r.label.startsWith('python') && r.batch === batch);
      if (pyR) console.log(`batch ${batch}: node/python = ${(nodeR.tilesPerSecond / pyR.tilesPerSecond).toFixed(2)}x`);
    }
    console.log(`best node / best python = ${(best('node') / best('python')).toFixed(2)}x (target >= 0.9x)`);
  } finally {
    await modelThreads.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
