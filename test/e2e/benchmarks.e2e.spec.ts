import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/python';
import { ensureBuilt } from '../support/worker-process';

const run = promisify(execFile);

/**
 * Every `npm run bench:*` in tiny mode (BENCH_TINY=1: a few tiles, seconds), through the same runner a user
 * gets (scripts/bench.sh -> scripts/ready.sh): each must exit 0 and print its figures, so none can break
 * unnoticed. bench:bulk reuses this run's PostgreSQL, MinIO and Temporal dev server (with-services.sh's
 * variables are in the environment) instead of starting its own.
 */
const BENCHES: Array<[script: string, figures: RegExp[]]> = [
  ['bench:inference', [/^node sequential +batch +4 +\d+\.\d+ tiles\/s/m, /best node \/ best python = \d+\.\d+x/]],
  ['bench:geotiff', [/read time ratio node\/GDAL: \d+\.\d+x/, /write time ratio node\/GDAL: \d+\.\d+x/]],
  ['bench:mask-cog', [/^512 x 512 mask:$/m, /speed-up: \d+\.\d+x wall, \d+\.\d+x CPU/]],
  ['bench:processor', [/runtime: sandboxed fork, pipeline +median/, /overhead ratio naive\/runtime: \d+\.\d+x/]],
  ['bench:coco', [/^COCO export: 20 masks/m, /build \d+\.\d+ s \(\d+\.\d+ ms\/mask/]],
  ['bench:tiles', [/^cold: \d+\.\d+ tiles\/s/m, /^warm: \d+\.\d+ tiles\/s, p50 \d+\.\d+ ms/m]],
  ['bench:events', [/^fan-out \(\d+ on one inference\) +\d+\/\d+ events: p50 \d+\.\d+ ms, p99 \d+\.\d+ ms/m]],
  [
    'bench:bulk',
    [
      /status COMPLETED \(4\/4 finished\)/,
      /pipeline \/ bare compute throughput ratio: \d+\.\d+/,
      /^GET \/api\/v2\/inference\/\{id\} +20 requests, 5 clients: p50 \d+\.\d+ ms/m,
    ],
  ],
];

describe('benchmarks (tiny mode)', () => {
  beforeAll(() => ensureBuilt());

  it.each(BENCHES)(
    'npm run %s prints its figures',
    async (script, figures) => {
      const env: NodeJS.ProcessEnv = { ...process.env, BENCH_TINY: '1' };
      delete env.NODE_ENV; // as a user runs it, not as jest's test environment
      let output: string;
      try {
        const { stdout, stderr } = await run('npm', ['run', '--silent', script], {
          cwd: REPO_ROOT,
          env,
          timeout: 150_000,
          maxBuffer: 16 * 1024 * 1024,
        });
        output = `${stdout}\n${stderr}`;
      } catch (error) {
        const failed = error as Error & { stdout?: string; stderr?: string };
        throw new Error(`npm run ${script} failed: ${failed.message}\n${failed.stdout ?? ''}\n${failed.stderr ?? ''}`);
      }
      expect(output).toContain('tiny mode');
      for (const figure of figures) expect(output).toMatch(figure);
    },
    180_000,
  );
});
