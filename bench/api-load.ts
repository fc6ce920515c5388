/**
 * REST API latency under concurrent clients, on the real `npm start` binary (node dist/src/main.js: API and
 * worker in one process, embedded PGlite and Temporal dev server unless DATABASE_URL / TEMPORAL_ADDRESS are
 * set, e.g. through scripts/with-services.sh for PostgreSQL).
 *
 *   npm run bench:load                      # 20 clients, 15 s per route
 *   npm run bench:load -- --tiny            # 3 s per route: a check that it runs
 *   BENCH_CLIENTS=50 BENCH_SECONDS=30 npm run bench:load
 *
 * Routes, each for SECONDS with CLIENTS clients in a closed loop: GET /api/health/live (the baseline: what
 * the process answers when it does nothing), POST /api/v2/inference (an inference whose URL points nowhere,
 * so the worker fails it cheaply while the benchmark runs), GET /api/v2/inference/{id} of those. Every request
 * has a client timeout (REQUEST_TIMEOUT_MS, 30 s): one that runs past it counts as a hang. Prints p50/p99/max,
 * requests/s and the status codes per route. Not a test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../scripts/demo-model';
import { repoRoot } from './bench-util';
import { freePort } from '../src/platform/free-port';

const TINY = process.argv.includes('--tiny') || process.env.BENCH_TINY === '1';
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (TINY ? 3 : 15));
const REQUEST_TIMEOUT_MS = Number(process.env.REQUEST_TIMEOUT_MS ?? 30_000);
const API_KEY = 'bench-load-key-0123456789';

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function startApp(port: number, dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(repoRoot(), 'dist', 'src', 'main.js')], {
    cwd: repoRoot(),
    env: {
      ...process.env,
      PORT: String(port),
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      API_KEYS: `${API_KEY}:bench@example.com`,
      // The figures are the API's own latency: with the per-key limits on, most answers would be 429s.
      RATE_LIMIT_PER_MINUTE: '0',
      RATE_LIMIT_INFERENCES_PER_MINUTE: '0',
      DATA_DIR: dataDir,
      TEMPORAL_DEV_PORT: String(await freePort()),
      TEMPORAL_UI_PORT: String(await freePort()),
      TEMPORAL_TASK_QUEUE: `bench-load-${Date.now()}`,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (const deadline = Date.now() + 180_000; Date.now() < deadline;) {
    if (child.exitCode !== null) throw new Error(`the app exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/health`)).ok) return child;
    } catch {
      /* not listening yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error('the app did not become ready in 180 s');
}

interface RouteFigures {
  label: string;
  latencies: number[];
  statuses: Map<string, number>;
  seconds: number;
}

/** CLIENTS clients call `send` back to back for SECONDS; each call's latency and status is recorded. */
async function load(label: string, send: (signal: AbortSignal) => Promise<Response>): Promise<RouteFigures> {
  const latencies: number[] = [];
  const statuses = new Map<string, number>();
  const count = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
  const started = performance.now();
  const end = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const response = await send(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
          await response.arrayBuffer();
          latencies.push(performance.now() - t0);
          count(String(response.status));
        } catch (error) {
          latencies.push(performance.now() - t0);
          count((error as Error).name === 'TimeoutError' ? `hang>${REQUEST_TIMEOUT_MS}ms` : 'network error');
        }
      }
    }),
  );
  return { label, latencies, statuses, seconds: (performance.now() - started) / 1000 };
}

function print(figures: RouteFigures): void {
  const { latencies } = figures;
  const codes = [...figures.statuses].map(([status, n]) => `${status} x${n}`).join(', ');
  console.log(
    `${figures.label.padEnd(30)} ${String(latencies.length).padStart(6)} req  p50 ${percentile(latencies, 50).toFixed(1).padStart(7)} ms  p99 ${percentile(latencies, 99).toFixed(1).padStart(7)} ms  max ${Math.max(
      ...latencies,
    )
      .toFixed(0)
      .padStart(6)} ms  ${(latencies.length / figures.seconds).toFixed(0).padStart(5)} req/s  [${codes}]`,
  );
}

async function main(): Promise<void> {
  const modelPath = process.env.DEMO_MODEL_PATH;
  const metaPath = process.env.DEMO_MODEL_META_PATH;
  if (!modelPath || !metaPath)
    throw new Error('DEMO_MODEL_PATH / DEMO_MODEL_META_PATH not set: run npm run bench:load');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-bench-load-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const app = await startApp(port, path.join(workDir, 'data'));
  const auth = { Authorization: `Bearer ${API_KEY}` };
  try {
    const form = new FormData();
    form.set('model', JSON.stringify(demoModelMetadata(metaPath, `bench-load-${Date.now()}`)));
    form.set('model_file', new Blob([fs.readFileSync(modelPath)]), path.basename(modelPath));
    const model = (await (
      await fetch(`${base}/api/v2/models`, { method: 'POST', headers: auth, body: form })
    ).json()) as {
      id: string;
    };
    const database = process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite';
    const temporal = process.env.TEMPORAL_ADDRESS
      ? `Temporal at ${process.env.TEMPORAL_ADDRESS}`
      : 'embedded dev server';
    console.log(
      `${CLIENTS} clients, ${SECONDS} s per route, ${os.cpus().length} CPU(s), load average ${os
        .loadavg()
        .map((value) => value.toFixed(1))
        .join(' ')} before the run; npm start with API + worker, ${database}, ${temporal}`,
    );

    // Warm-up (connections, JIT), not counted.
    for (let i = 0; i < 20; i++) await (await fetch(`${base}/api/health/live`)).arrayBuffer();

    const ids: string[] = [];
    const body = JSON.stringify({
      model_id: model.id,
      spatial_domain: { urls: ['http://127.0.0.1:9/none.tif'] },
      temporal_domain: [],
    });
    const figures = [
      await load('GET /api/health/live', (signal) => fetch(`${base}/api/health/live`, { signal })),
      await load('POST /api/v2/inference', async (signal) => {
        const response = await fetch(`${base}/api/v2/inference`, {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'application/json' },
          body,
          signal,
        });
        if (response.status === 201) {
          const created = (await response.clone().json()) as { id: string };
          ids.push(created.id);
        }
        return response;
      }),
    ];
    if (ids.length === 0) throw new Error('no inference was created');
    figures.push(
      await load('GET /api/v2/inference/{id}', (signal) =>
        fetch(`${base}/api/v2/inference/${ids[Math.floor(Math.random() * ids.length)]}`, { headers: auth, signal }),
      ),
      await load('GET /api/health/live (after)', (signal) => fetch(`${base}/api/health/live`, { signal })),
    );
    for (const route of figures) print(route);
  } finally {
    app.kill('SIGTERM');
    await new Promise((resolve) => app.once('exit', resolve));
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
