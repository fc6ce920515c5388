/**
 * A real GeoFM architecture through the model step: Prithvi-EO-2.0 (TerraTorch, random weights: pretrained ones
 * are not reachable here) exported to ONNX with a 3-frame BCTHW input, run by OnnxSegmenter (the model step's
 * tiling, time series stacking, normalisation and model threads) over a time-major chip, against Python onnxruntime
 * over the same tiles in the same run (python/prithvi_bench.py), with the two class masks compared.
 *
 *   PRITHVI_PYTHON=/path/to/venv/bin/python npm run bench:prithvi
 * PRITHVI_PYTHON: a Python with torch + terratorch + onnxruntime (not in requirements.txt: several GB), e.g.
 *   uv venv /tmp/tt && uv pip install -p /tmp/tt/bin/python torch==2.5.1 terratorch onnx onnxruntime==1.30.0
 * Env: PRITHVI_BACKBONE (terratorch_prithvi_eo_v2_100_tl), BENCH_SIZE (chip side, 448 = 4 tiles of 224),
 * BENCH_REPEATS (2), BENCH_THREADS (intra-op threads on both sides, default all CPUs); the exported model is kept in .data/bench/ for later runs. BENCH_TINY=1: the tiny backbone.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ModelInputDataSpec } from '../workflows/contract/model-spec';
import { ModelThreadPool } from '../src/geo/model/model-thread';
import { OnnxSegmenter } from '../src/geo/model/segmentation';
import { readGeoTiff } from '../src/geo/raster/decode';
import { repoRoot } from './bench-util';

const FRAMES = 3;
const TILE = 224;
// Prithvi-EO-2.0's HLS band statistics (reflectance), the normalisation its fine-tuning configs use.
const MEAN = [0.1058, 0.1344, 0.1563, 0.2765, 0.2455, 0.1792];
const STD = [0.0787, 0.0766, 0.0886, 0.0957, 0.0914, 0.0823];

function runPython(pythonBin: string, args: string[]): string {
  return execFileSync(pythonBin, [path.join(repoRoot(), 'python', 'prithvi_bench.py'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

function lastJson(output: string): Record<string, number> {
  const line = output
    .trim()
    .split('\n')
    .reverse()
    .find((entry) => entry.startsWith('{'));
  if (!line) throw new Error(`no JSON line in: ${output.slice(-500)}`);
  return JSON.parse(line) as Record<string, number>;
}

async function main(): Promise<void> {
  const pythonBin = process.env.PRITHVI_PYTHON;
  if (!pythonBin) {
    console.error('set PRITHVI_PYTHON to a Python with torch + terratorch + onnxruntime (see bench/prithvi.ts)');
    process.exit(2);
  }
  const tiny = process.env.BENCH_TINY === '1';
  const backbone =
    process.env.PRITHVI_BACKBONE ?? (tiny ? 'terratorch_prithvi_eo_v2_tiny_tl' : 'terratorch_prithvi_eo_v2_100_tl');
  const size = Number(process.env.BENCH_SIZE ?? (tiny ? TILE : 2 * TILE));
  const repeats = Number(process.env.BENCH_REPEATS ?? (tiny ? 1 : 2));
  const cacheDir = path.join(repoRoot(), '.data', 'bench');
  fs.mkdirSync(cacheDir, { recursive: true });
  const modelPath = path.join(cacheDir, `${backbone}-t${FRAMES}-${TILE}.onnx`);
  if (!fs.existsSync(modelPath)) {
    const exported = lastJson(runPython(pythonBin, ['export', modelPath, '--backbone', backbone, '--frames', '3']));
    console.log(`exported ${backbone} (${(exported.parameters! / 1e6).toFixed(1)} M parameters) to ${modelPath}`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-prithvi-'));
  const threads = new ModelThreadPool(1);
  try {
    const chip = path.join(tmp, 'chip.tif');
    runPython(pythonBin, ['chip', chip, '--size', String(size), '--frames', String(FRAMES)]);
    const spec: ModelInputDataSpec = {
      bands: ['blue', 'green', 'red', 'nir', 'swir16', 'swir22'].map((name) => ({ name })),
      scaling: { scale: 0.0001, offset: 0 },
      normalization: { mean: MEAN, std: STD },
      tile_size: TILE,
      tile_overlap: 0,
      tile_blending: 'center',
      classes: [
        { value: 0, name: 'background', background: true },
        { value: 1, name: 'target' },
      ],
      temporal: { num_steps: FRAMES, temporal_step: 10, temporal_tolerance: 3, layout: 'BCTHW' },
    };
    const raster = await readGeoTiff(chip);
    const tiles = Math.ceil(size / TILE) ** 2;
    // The same intra-op threads on both sides (threads auto would give a one-run input a single core).
    const intraOpThreads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
    const segmenter = await OnnxSegmenter.load(threads, modelPath, spec, { intraOpThreads });
    await segmenter.segment(raster); // warm-up
    let best = Infinity;
    let mask: Uint8Array = new Uint8Array(0);
    for (let round = 0; round < repeats; round++) {
      const begin = process.hrtime.bigint();
      mask = await segmenter.segment(raster);
      best = Math.min(best, Number(process.hrtime.bigint() - begin) / 1e9);
    }
    const pipelineRate = tiles / best;
    const maskFile = path.join(tmp, 'python-mask.u8');
    const bare = lastJson(
      runPython(pythonBin, [
        'time',
        modelPath,
        chip,
        '--frames',
        String(FRAMES),
        '--size',
        String(TILE),
        '--mean',
        MEAN.join(','),
        '--std',
        STD.join(','),
        '--repeats',
        String(repeats),
        '--threads',
        String(intraOpThreads),
        '--batch',
        String(segmenter.batchSize),
        '--mask',
        maskFile,
      ]),
    );
    const reference = fs.readFileSync(maskFile);
    let differing = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] !== reference[i]) differing += 1;
    console.log(
      `Prithvi-EO-2.0 ${backbone}, input [B, 6, ${FRAMES}, ${TILE}, ${TILE}] (BCTHW), ${tiles} tile(s) of a ${size}^2 ` +
        `chip, ${intraOpThreads} thread(s), batch ${segmenter.batchSize}, provider ${segmenter.executionProvider}, ` +
        `best of ${repeats}, load average ${os.loadavg()[0]!.toFixed(1)}`,
    );
    console.log(`  model step (OnnxSegmenter)  ${pipelineRate.toFixed(3)} tiles/s`);
    console.log(`  Python onnxruntime          ${bare.tiles_per_s!.toFixed(3)} tiles/s`);
    console.log(`  ratio                       ${(pipelineRate / bare.tiles_per_s!).toFixed(2)}x (target >= 0.9x)`);
    console.log(`  class masks                 ${differing} of ${mask.length} pixels differ`);
  } finally {
    await threads.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
