/**
 * Lifecycle processors against scripts, and the lifecycle runtime's own cost per tile.
 *
 * 1. A processor that loads a "model" for 2 s (SETUP_SECONDS) over TILES tiles: lifecycle style (setup once in
 *    the warm process, one call per tile as a task-by-task step does it, and groups of 25 per call as a
 *    grouped step does) against script style (seed 000: the 2 s on every tile). Script style is measured on
 *    SCRIPT_TILES tiles and scaled to TILES (running it on 500 tiles would take 17 minutes).
 * 2. Per-tile overhead of a lifecycle call (the pipeline's code path: input copied into the call's directory,
 *    the call through the zygote to the sandboxed warm process and back, the output checked) against the
 *    same process() called in one warm Python process with nothing between, paired tile by tile.
 *
 *   npm run bench:processor-lifecycle [-- TILES]     (default 500; BENCH_TINY=1: 4; BENCH_PARTS=overhead: part 2 only)
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { ProcessorRuntime } from '../src/geo/processors/processor-runtime';
import { withProcessorRun } from '../src/geo/processors/run-processor';
import { type LifecycleProcessorSpec, WarmProcessors } from '../src/geo/processors/warm-processors';
import { median, PYTHON, python, repoRoot } from './bench-util';

const SETUP_SECONDS = Number(process.env.SETUP_SECONDS ?? 2);
const GROUP = 25;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const tiny = process.env.BENCH_TINY === '1';
  const tiles = Number(process.argv[2] ?? (tiny ? 4 : 500));
  const scriptTiles = Math.min(tiles, Number(process.env.SCRIPT_TILES ?? (tiny ? 2 : 10)));
  const root = repoRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-bench-lifecycle-'));
  const input = path.join(dir, 'tile.tif');
  python(['python/make_sample_geotiff.py', input, '--size', '256', '--seed', '11']);
  const pythonBin =
    process.env.PYTHON_BIN ||
    (fs.existsSync(path.join(root, '.venv/bin/python')) ? path.join(root, '.venv/bin/python') : PYTHON);
  const lifecycleFile = path.join(root, 'bench', 'processors', 'slow_setup_lifecycle.py');
  const scriptFile = path.join(root, 'bench', 'processors', 'slow_setup_script.py');
  const limits = {
    timeoutSeconds: 60,
    memoryMb: 1024,
    maxProcesses: 32,
    maxLogBytes: 64 * 1024 * 1024,
    maxOutputBytes: 256 * 1024 * 1024,
    tmpMb: 64,
  };
  const runtime = new ProcessorRuntime({ pythonBin, uidBase: 260_000 });
  await runtime.start();
  const warm = new WarmProcessors(runtime, { idleSeconds: 3600 });
  const spec = (id: string, setupSeconds: number): LifecycleProcessorSpec => ({
    processorId: id,
    processorName: id,
    user: 'bench',
    fileKey: lifecycleFile,
    scriptName: 'slow_setup_lifecycle.py',
    parameters: { setup_seconds: setupSeconds, threshold: 1 },
    loadScript: (destination) => fs.promises.copyFile(lifecycleFile, destination),
  });
  const check = (failure: string | null) => {
    if (failure) throw new Error(failure);
  };

  const parts = (process.env.BENCH_PARTS ?? 'styles,overhead').split(',');
  let lifecycleOne = Number.NaN;
  let lifecycleGrouped = Number.NaN;
  let scriptPerTile = Number.NaN;
  if (parts.includes('styles')) {
    // 1a. Lifecycle, one tile per call.
    let started = performance.now();
    for (let i = 0; i < tiles; i++)
      await warm.run(
        spec('one-per-call', SETUP_SECONDS),
        [{ inputFile: input, parameters: { threshold: 1 } }],
        limits,
        undefined,
        async ([report]) => check(report!.failure),
      );
    lifecycleOne = (performance.now() - started) / 1000;
    // 1b. Lifecycle, groups of 25 tiles per call (a grouped step).
    started = performance.now();
    for (let i = 0; i < tiles; i += GROUP) {
      const inputs = Array.from({ length: Math.min(GROUP, tiles - i) }, () => ({
        inputFile: input,
        parameters: { threshold: 1 },
      }));
      await warm.run(spec('grouped', SETUP_SECONDS), inputs, limits, undefined, async (reports) =>
        reports.forEach((report) => check(report.failure)),
      );
    }
    lifecycleGrouped = (performance.now() - started) / 1000;
    // 1c. Script style: the setup on every tile.
    started = performance.now();
    for (let i = 0; i < scriptTiles; i++)
      await withProcessorRun(
        runtime,
        {
          scriptFile,
          scriptName: 'slow_setup_script.py',
          inputFile: input,
          parameters: { setup_seconds: SETUP_SECONDS, threshold: 1 },
        },
        limits,
        undefined,
        async (report) => check(report.failure),
      );
    scriptPerTile = (performance.now() - started) / 1000 / scriptTiles;
  }

  // 2. Per-call overhead against the warm in-process baseline, interleaved tile by tile.
  const bareProcess = spawn(
    pythonBin,
    [path.join(root, 'bench/processors/lifecycle_bare_loop.py'), lifecycleFile, input],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
    },
  );
  const bareLines = createInterface({ input: bareProcess.stdout })[Symbol.asyncIterator]();
  await bareLines.next(); // "ready"
  const bare: number[] = [];
  const call: number[] = [];
  const inside: number[] = [];
  const overheadSpec = spec('overhead', 0);
  await warm.run(overheadSpec, [{ inputFile: input, parameters: {} }], limits, undefined, async () => undefined);
  for (let i = 0; i < tiles; i++) {
    bareProcess.stdin.write('go\n');
    bare.push(Number((await bareLines.next()).value));
    const callStarted = performance.now();
    await warm.run(
      overheadSpec,
      [{ inputFile: input, parameters: { threshold: 1 } }],
      limits,
      undefined,
      async ([report]) => {
        check(report!.failure);
        inside.push(report!.user_ms ?? Number.NaN);
      },
    );
    call.push(performance.now() - callStarted);
  }
  bareProcess.stdin.end();
  await warm.close();
  await runtime.close();
  fs.rmSync(dir, { recursive: true, force: true });

  const overhead = call.map((value, index) => value - bare[index]!);
  console.log(
    `lifecycle processors, ${tiles} tiles of 256x256x6 uint16, setup ${SETUP_SECONDS} s, ${os.cpus().length} cores`,
  );
  console.log(
    `script style (setup on every tile):   ${scriptPerTile.toFixed(2)} s per tile (measured on ${scriptTiles}) -> ${(scriptPerTile * tiles).toFixed(0)} s for ${tiles} tiles`,
  );
  console.log(
    `lifecycle, one tile per call:         ${lifecycleOne.toFixed(1)} s for ${tiles} tiles (setup once), ${((scriptPerTile * tiles) / lifecycleOne).toFixed(0)}x faster`,
  );
  console.log(
    `lifecycle, ${GROUP} tiles per call (grouped): ${lifecycleGrouped.toFixed(1)} s for ${tiles} tiles, ${((scriptPerTile * tiles) / lifecycleGrouped).toFixed(0)}x faster`,
  );
  console.log(`warm in-process baseline (process() alone): median ${median(bare).toFixed(2)} ms per tile`);
  console.log(
    `lifecycle call, pipeline path:             median ${median(call).toFixed(2)} ms  p99 ${percentile(call, 99).toFixed(2)} ms per tile`,
  );
  console.log(`  of which the processor's own code:       median ${median(inside).toFixed(2)} ms`);
  console.log(
    `runtime's own cost per call (call minus the processor's own code): median ${median(call.map((value, index) => value - inside[index]!)).toFixed(2)} ms`,
  );
  console.log(
    `per-tile overhead vs baseline (paired):    median ${median(overhead).toFixed(2)} ms  p99 ${percentile(overhead, 99).toFixed(2)} ms (target <= 5 ms)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
