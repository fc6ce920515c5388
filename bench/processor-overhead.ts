/**
 * Per-tile overhead of running a generic processor: a fresh `python script.py ...` per tile (the naive way)
 * against the project's runtime (warm interpreter, one sandboxed fork per run, the pipeline's own code path
 * including copying the files into the run directory and checking the output), both measured against the
 * processor's own work done in one warm process, all in the same run.
 *
 *   npm run bench:processor [-- TILES]      (default 500 tiles of 256x256; BENCH_TINY=1: 2)
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { ProcessorRuntime } from '../src/geo/processors/processor-runtime';
import { withProcessorRun } from '../src/geo/processors/run-processor';
import { median, PYTHON, python, repoRoot } from './bench-util';

const run = promisify(execFile);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const tiles = Number(process.argv[2] ?? (process.env.BENCH_TINY === '1' ? 2 : 500));
  const root = repoRoot();
  const script = path.join(root, 'bench', 'processors', 'threshold_tile.py');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-bench-processor-'));
  const input = path.join(dir, 'tile.tif');
  python(['python/make_sample_geotiff.py', input, '--size', '256', '--seed', '11']);
  const pythonBin =
    process.env.PYTHON_BIN ||
    (fs.existsSync(path.join(root, '.venv/bin/python')) ? path.join(root, '.venv/bin/python') : PYTHON);

  // The three ways run interleaved, tile by tile, so a change in machine load hits all of them alike.
  const bareProcess = spawn(pythonBin, [path.join(root, 'bench/processors/bare_loop.py'), script, input], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
  });
  const bareLines = createInterface({ input: bareProcess.stdout })[Symbol.asyncIterator]();
  await bareLines.next(); // "ready"
  const bareOnce = async (): Promise<number> => {
    bareProcess.stdin.write('go\n');
    return Number((await bareLines.next()).value);
  };

  const runtime = new ProcessorRuntime({ pythonBin, uidBase: 250_000 });
  const ready = await runtime.start();
  const limits = {
    timeoutSeconds: 60,
    memoryMb: 1024,
    maxProcesses: 32,
    maxLogBytes: 4 * 1024 * 1024,
    maxOutputBytes: 256 * 1024 * 1024,
    tmpMb: 64,
  };
  const spec = { scriptFile: script, scriptName: 'threshold_tile.py', inputFile: input, parameters: { threshold: 1 } };
  const bare: number[] = [];
  const naive: number[] = [];
  const warm: number[] = [];
  const inSandbox: number[] = [];
  const scriptOwn: number[] = [];
  for (let i = 0; i < tiles; i++) {
    bare.push(await bareOnce());
    let started = performance.now();
    await withProcessorRun(runtime, spec, limits, undefined, async (report) => {
      if (report.failure) throw new Error(`run ${i} failed: ${report.failure}\n${report.log}`);
      inSandbox.push(report.duration_ms);
      scriptOwn.push(report.script_ms ?? Number.NaN);
    });
    warm.push(performance.now() - started);
    started = performance.now();
    await run(pythonBin, [script, input, path.join(dir, 'naive-out.tif'), '{"threshold": 1}'], {
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
    });
    naive.push(performance.now() - started);
  }
  bareProcess.stdin.end();
  const bareMs = median(bare);
  const pairedOverhead = (values: number[]) => median(values.map((value, index) => value - bare[index]!));
  // Two runs at a time (this machine has 2 cores): throughput of the runtime.
  const concurrentStart = performance.now();
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < tiles) {
        next += 1;
        await withProcessorRun(runtime, spec, limits, undefined, async (report) => {
          if (report.failure) throw new Error(report.failure);
        });
      }
    }),
  );
  const concurrentSeconds = (performance.now() - concurrentStart) / 1000;
  await runtime.close();
  fs.rmSync(dir, { recursive: true, force: true });

  const row = (name: string, values: number[]) =>
    `${name.padEnd(34)} median ${median(values).toFixed(1).padStart(7)} ms  p99 ${percentile(values, 99).toFixed(1).padStart(7)} ms  overhead ${pairedOverhead(values).toFixed(1).padStart(7)} ms`;
  console.log(`generic processor per-tile cost, ${tiles} tiles of 256x256x6 uint16, ${os.cpus().length} cores`);
  console.log(
    `runtime start-up (imports numpy, rasterio once): ${ready.startup_ms} ms; sandbox ${ready.sandbox.available ? 'on' : 'OFF'}`,
  );
  console.log(
    `processor's own work in one warm process       ${bareMs.toFixed(1)} ms per tile (baseline; overhead = median of per-tile differences)`,
  );
  console.log(row('naive: python script.py per tile', naive));
  console.log(row('runtime: sandboxed fork, pipeline', warm));
  console.log(
    `${'  of which inside the sandbox run'.padEnd(34)} median ${median(inSandbox).toFixed(1).padStart(7)} ms`,
  );
  console.log(
    `${"  of which the script's own code".padEnd(34)} median ${median(scriptOwn).toFixed(1).padStart(7)} ms (a fresh process: first-call costs included)`,
  );
  console.log(
    `runtime's own cost per invocation (everything but the script's code): median ${median(warm.map((value, index) => value - scriptOwn[index]!)).toFixed(1)} ms`,
  );
  console.log(`runtime, 2 runs at a time: ${(tiles / concurrentSeconds).toFixed(1)} tiles/s`);
  console.log(
    `overhead ratio naive/runtime: ${(pairedOverhead(naive) / Math.max(0.1, pairedOverhead(warm))).toFixed(1)}x`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
