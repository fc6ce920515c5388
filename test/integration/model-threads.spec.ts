// geotiff.js requires the ESM-only `quick-lru` (remote reads only), which Jest's CommonJS runtime cannot load.
jest.mock('quick-lru', () => ({ __esModule: true, default: class extends Map {} }));

import '../fixtures/jest-native-realm';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';
import { readGeoTiff } from '../../src/geo/raster/decode';
import type { Raster } from '../../src/geo/raster/raster';
import { ModelThreadPool } from '../../src/geo/model/model-thread';
import { OnnxSegmenter } from '../../src/geo/model/segmentation';

/**
 * OnnxSegmenter's model threads with the real ukis-csmask model (65-80 ms per 256 x 256 tile on two
 * cores): the event loop stays free during runs, and concurrent calls share runs without changing a
 * pixel. Needs PYTHON_BIN and DEMO_MODEL_PATH (scripts/with-services.sh sets both).
 */
const ROOT = path.join(__dirname, '..', '..');
const PYTHON = process.env.PYTHON_BIN || 'python3';
const MODEL = process.env.DEMO_MODEL_PATH;
const SPEC: ModelInputDataSpec = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'csmask-6b-l2a.spec.json'), 'utf8'),
);

async function sampleScene(dir: string, size: number, seed: number): Promise<Raster> {
  const file = path.join(dir, `sample-${size}-${seed}.tif`);
  execFileSync(
    PYTHON,
    [path.join('python', 'make_sample_geotiff.py'), file, '--size', String(size), '--seed', String(seed)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return readGeoTiff(file);
}

/** Counts 5 ms interval ticks and the longest gap between them while `work` runs. */
async function eventLoopDuring<T>(
  work: () => Promise<T>,
): Promise<{ result: T; ticks: number; elapsedMs: number; longestGapMs: number }> {
  let ticks = 0;
  let last = performance.now();
  let longestGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
    ticks += 1;
  }, 5);
  const started = performance.now();
  try {
    const result = await work();
    return {
      result,
      ticks,
      elapsedMs: performance.now() - started,
      longestGapMs: Math.max(longestGapMs, performance.now() - last),
    };
  } finally {
    clearInterval(timer);
  }
}

describe('model threads with the real model', () => {
  const threads = new ModelThreadPool(1);
  let tmp: string;
  beforeAll(() => {
    if (!MODEL || !fs.existsSync(MODEL))
      throw new Error(`DEMO_MODEL_PATH must point to ukis-csmask's model_6b_l2a.onnx (got ${MODEL ?? 'nothing'})`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'model-threads-'));
  });
  afterAll(async () => {
    await threads.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('keeps the event loop ticking while a multi-tile raster is segmented', async () => {
    const raster = await sampleScene(tmp, 512, 7);
    const segmenter = await OnnxSegmenter.load(threads, MODEL!, SPEC, { batchSize: 4 });
    await segmenter.segment(raster); // warm-up: session and memory arena ready
    const runsBefore = threads.stats().runs;
    const { result: mask, ticks, elapsedMs, longestGapMs } = await eventLoopDuring(() => segmenter.segment(raster));
    const runs = threads.stats().runs - runsBefore;
    // eslint-disable-next-line no-console
    console.log(
      `9 tiles in ${runs} runs, ${elapsedMs.toFixed(0)} ms: ${ticks} ticks of 5 ms, longest gap ${longestGapMs.toFixed(1)} ms`,
    );
    expect(mask).toHaveLength(512 * 512);
    expect(runs).toBe(3);
    // On the main thread the loop would stall for a whole run (4 tiles, ~300 ms here) three times.
    expect(longestGapMs).toBeLessThan(elapsedMs / runs / 2);
    expect(ticks).toBeGreaterThan((elapsedMs / 5) * 0.5);
  });

  it('repeats the progress of a call waiting behind a long one every 2 s (activity heartbeats)', async () => {
    const [big, small] = await Promise.all([sampleScene(tmp, 1024, 21), sampleScene(tmp, 256, 22)]);
    // One intra-op thread: the 25 tiles take well over 2 s even on a fast machine.
    const segmenter = await OnnxSegmenter.load(threads, MODEL!, SPEC, { batchSize: 4, intraOpThreads: 1 });
    const started = performance.now();
    const reports: Array<{ atMs: number; done: number; total: number }> = [];
    await Promise.all([
      segmenter.segment(big),
      segmenter.segment(small, {
        onProgress: (done, total) => reports.push({ atMs: performance.now() - started, done, total }),
      }),
    ]);
    const waited = reports.filter((report) => report.done === 0);
    const firstTileAt = reports.find((report) => report.done === 1)!.atMs;
    // eslint-disable-next-line no-console
    console.log(
      `waited ${firstTileAt.toFixed(0)} ms behind 25 tiles; progress reports at ${reports.map((r) => `${r.atMs.toFixed(0)} ms (${r.done}/${r.total})`).join(', ')}`,
    );
    expect(reports.at(-1)).toMatchObject({ done: 1, total: 1 });
    expect(waited[0]!.atMs).toBeLessThan(100);
    expect(waited.length).toBeGreaterThanOrEqual(1 + Math.floor((firstTileAt - 200) / 2000));
    for (let i = 1; i < waited.length; i++) expect(waited[i]!.atMs - waited[i - 1]!.atMs).toBeLessThan(2500);
    expect(firstTileAt - waited.at(-1)!.atMs).toBeLessThan(2500);
  });

  it('fills runs with tiles of concurrent calls, with exactly the masks of separate calls', async () => {
    const rasters = await Promise.all([11, 12, 13, 14, 15, 16].map((seed) => sampleScene(tmp, 256, seed)));
    const segmenter = await OnnxSegmenter.load(threads, MODEL!, SPEC, { batchSize: 4 });
    const separate: Uint8Array[] = [];
    for (const raster of rasters) separate.push(await segmenter.segment(raster));
    const before = threads.stats();
    const concurrent = await Promise.all(rasters.map((raster) => segmenter.segment(raster)));
    const after = threads.stats();
    // eslint-disable-next-line no-console
    console.log(
      `6 single-tile calls at once: ${after.runs - before.runs} runs, ${after.sharedRuns - before.sharedRuns} shared by several calls`,
    );
    // Calls made together reach the thread together: runs of 4 + 2 tiles instead of 6 runs of 1.
    expect(after.tiles - before.tiles).toBe(6);
    expect(after.runs - before.runs).toBe(2);
    expect(after.sharedRuns - before.sharedRuns).toBe(2);
    concurrent.forEach((mask, i) => {
      let differences = 0;
      for (let p = 0; p < mask.length; p++) if (mask[p] !== separate[i]![p]) differences++;
      expect(differences).toBe(0);
    });
  });
});
