/**
 * Live events (GET /api/v2/inference/{id}/events): latency from a projection write (a task's status change,
 * written by the same activity code the workers run) to the event arriving at EventSource subscribers, and the
 * API process's memory per open stream.
 *
 *   npm run bench:events                 # 100 subscribers, 100 status changes
 *   npm run bench:events -- --tiny       # 5 subscribers, 5 changes: a smoke run
 *
 * The API runs as its own process (node dist/src/main.js, no worker) so its memory is its own; subscribers and
 * the writer run here. Two shapes: fan-out (every subscriber on one inference) and spread (one subscriber on
 * each of as many inferences, changes round-robin). Prints figures; not a test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventSource } from 'eventsource';
import type { DataSource } from 'typeorm';
import { createProjectionActivities } from '../activities/projection';
import type { ActivityDeps } from '../activities/deps';
import { openDataSource } from '../src/platform/database/data-source';
import type { TaskState } from '../workflows/contract/types';
import { repoRoot } from './bench-util';

const TINY = process.argv.includes('--tiny') || process.env.BENCH_TINY === '1';
const SUBSCRIBERS = TINY ? 5 : 100;
const CHANGES = TINY ? 5 : 100;
/** Streams opened for the memory figure (more than SUBSCRIBERS so the per-stream figure rises above noise). */
const MEMORY_STREAMS = TINY ? 20 : 1000;
const PACE_MS = 50;
const API_KEY = 'bench-events-key-0123456789';
const USER = 'bench@example.com';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startApi(port: number, dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(repoRoot(), 'dist', 'src', 'main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      API_KEYS: `${API_KEY}:${USER}`,
      RUN_WORKER: 'false',
      STORAGE_DRIVER: 'filesystem',
      DATA_DIR: dataDir,
      TEMPORAL_TASK_QUEUE: `bench-events-${Date.now()}`,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
    if (child.exitCode !== null) throw new Error(`the API exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/health/live`)).ok) return child;
    } catch {
      // not listening yet
    }
    await sleep(300);
  }
  throw new Error('the API did not start in 120 s');
}

/** Resident set and V8 heap in use of the API process, from its own /metrics. */
async function apiMemory(base: string): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: value('geo_process_resident_memory_bytes'), heap: value('geo_nodejs_heap_size_used_bytes') };
}

async function createInference(dataSource: DataSource, modelId: string, tasks: number) {
  const id = randomUUID();
  await dataSource.query(
    `INSERT INTO inferences (id, model_id, model_display_name, spatial_domain, temporal_domain, status, workflow_id, created_by)
     VALUES ($1, $2, 'bench', '{}', '[]', 'RUNNING', $3, $4)`,
    [id, modelId, id, USER],
  );
  const taskIds: string[] = [];
  for (let index = 0; index < tasks; index++) {
    const taskId = `${id}-task-${String(index + 1).padStart(3, '0')}`;
    taskIds.push(taskId);
    await dataSource.query(
      `INSERT INTO inference_tasks (task_id, inference_id, task_index, input, status, pipeline_steps)
       VALUES ($1, $2, $3, '{}', 'WAITING', '[{"process_id":"model-inference","step_number":0,"status":"WAITING"}]')`,
      [taskId, id, index],
    );
  }
  return { id, taskIds };
}

interface Subscriber {
  source: EventSource;
  /** Arrival time (performance.now) of each task's first task.status event. */
  arrivals: Map<string, number>;
  opened: Promise<void>;
}

function subscribe(base: string, inferenceId: string): Subscriber {
  const source = new EventSource(`${base}/api/v2/inference/${inferenceId}/events`, {
    fetch: (input, init) =>
      fetch(input, { ...init, headers: { ...(init?.headers ?? {}), Authorization: `Bearer ${API_KEY}` } }),
  });
  const arrivals = new Map<string, number>();
  // The replayed first event (inference.status) says the stream is live.
  const opened = new Promise<void>((resolve) => source.addEventListener('inference.status', () => resolve()));
  source.addEventListener('task.status', (event) => {
    const now = performance.now();
    const { task_id: taskId } = JSON.parse(event.data) as { task_id: string };
    if (!arrivals.has(taskId)) arrivals.set(taskId, now);
  });
  return { source, arrivals, opened };
}

async function measure(
  label: string,
  targets: Array<{ subscriber: Subscriber; taskIds: Set<string> }>,
  changes: Array<{ inferenceId: string; taskId: string }>,
  projection: ReturnType<typeof createProjectionActivities>,
): Promise<void> {
  const written = new Map<string, number>();
  const writes: number[] = [];
  for (const change of changes) {
    const task: TaskState = {
      task_id: change.taskId,
      task_index: Number(change.taskId.slice(-3)) - 1,
      status: 'RUNNING',
      pipeline_steps: [{ process_id: 'model-inference', step_number: 0, status: 'RUNNING' }],
    };
    const started = performance.now();
    written.set(change.taskId, started);
    await projection.recordTaskState({ inferenceId: change.inferenceId, task });
    writes.push(performance.now() - started);
    await sleep(PACE_MS);
  }
  const expected = targets.reduce((sum, target) => sum + target.taskIds.size, 0);
  const received = () =>
    targets.reduce(
      (sum, target) => sum + [...target.taskIds].filter((id) => target.subscriber.arrivals.has(id)).length,
      0,
    );
  for (const deadline = Date.now() + 10_000; received() < expected && Date.now() < deadline;) await sleep(50);
  const latencies: number[] = [];
  for (const { subscriber, taskIds } of targets)
    for (const taskId of taskIds) {
      const arrived = subscriber.arrivals.get(taskId);
      if (arrived !== undefined) latencies.push(arrived - written.get(taskId)!);
    }
  console.log(
    `${label.padEnd(44)} ${latencies.length}/${expected} events: p50 ${percentile(latencies, 50).toFixed(1)} ms, ` +
      `p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms ` +
      `(the write itself: p50 ${percentile(writes, 50).toFixed(1)} ms, p99 ${percentile(writes, 99).toFixed(1)} ms)`,
  );
}

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL || !process.env.TEMPORAL_ADDRESS)
    throw new Error('run through scripts/with-services.sh (needs DATABASE_URL and TEMPORAL_ADDRESS)');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-bench-events-'));
  const dataSource = await openDataSource(process.env.DATABASE_URL, 4);
  const projection = createProjectionActivities({ dataSource } as unknown as ActivityDeps);
  const port = await freePort();
  const api = await startApi(port, dataDir);
  const base = `http://127.0.0.1:${port}`;
  const subscribers: Subscriber[] = [];
  try {
    const modelId = randomUUID();
    await dataSource.query(
      `INSERT INTO models (id, display_name, status, model_input_data_spec, file_key, file_name, file_sha256, file_size, created_by, owner)
       VALUES ($1, $2, 'READY', '{}', 'k', 'm.onnx', repeat('0', 64), 1, $3, $3)`,
      [modelId, `bench-events-${modelId}`, USER],
    );
    console.log(
      `${SUBSCRIBERS} subscribers, ${CHANGES} task status changes ${PACE_MS} ms apart, ${os.cpus().length} CPU(s); ` +
        'latency = projection write started -> event at the subscriber',
    );

    // Fan-out: every subscriber follows the same inference.
    const shared = await createInference(dataSource, modelId, CHANGES);
    for (let index = 0; index < SUBSCRIBERS; index++) subscribers.push(subscribe(base, shared.id));
    await Promise.all(subscribers.map((subscriber) => subscriber.opened));
    await measure(
      `fan-out (${SUBSCRIBERS} on one inference)`,
      subscribers.map((subscriber) => ({ subscriber, taskIds: new Set(shared.taskIds) })),
      shared.taskIds.map((taskId) => ({ inferenceId: shared.id, taskId })),
      projection,
    );
    for (const subscriber of subscribers.splice(0)) subscriber.source.close();

    // Spread: one subscriber on each of SUBSCRIBERS inferences.
    const perInference = Math.ceil(CHANGES / SUBSCRIBERS);
    const inferences: Array<{ id: string; taskIds: string[] }> = [];
    for (let index = 0; index < SUBSCRIBERS; index++)
      inferences.push(await createInference(dataSource, modelId, perInference));
    const targets = inferences.map((inference) => ({ inference, subscriber: subscribe(base, inference.id) }));
    await Promise.all(targets.map((target) => target.subscriber.opened));
    const changes = Array.from({ length: CHANGES }, (_, index) => {
      const inference = inferences[index % SUBSCRIBERS]!;
      return { inferenceId: inference.id, taskId: inference.taskIds[Math.floor(index / SUBSCRIBERS)]! };
    });
    await measure(
      `spread (${SUBSCRIBERS} inferences, 1 subscriber each)`,
      targets.map((target) => ({
        subscriber: target.subscriber,
        taskIds: new Set(changes.filter((c) => c.inferenceId === target.inference.id).map((c) => c.taskId)),
      })),
      changes,
      projection,
    );
    for (const target of targets) target.subscriber.source.close();

    // Memory: the API process with no stream, then with MEMORY_STREAMS open on one inference.
    await sleep(2000);
    const before = await apiMemory(base);
    const memoryInference = await createInference(dataSource, modelId, 1);
    for (let index = 0; index < MEMORY_STREAMS; index++) subscribers.push(subscribe(base, memoryInference.id));
    await Promise.all(subscribers.map((subscriber) => subscriber.opened));
    await sleep(2000);
    const after = await apiMemory(base);
    console.log(
      `API memory per open stream (${MEMORY_STREAMS} streams): ` +
        `RSS +${((after.rss - before.rss) / MEMORY_STREAMS / 1024).toFixed(1)} KiB, ` +
        `V8 heap +${((after.heap - before.heap) / MEMORY_STREAMS / 1024).toFixed(1)} KiB ` +
        `(RSS ${(before.rss / 2 ** 20).toFixed(0)} -> ${(after.rss / 2 ** 20).toFixed(0)} MiB)`,
    );
  } finally {
    for (const subscriber of subscribers) subscriber.source.close();
    api.kill('SIGTERM');
    await new Promise((resolve) => api.once('exit', resolve));
    await dataSource.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
