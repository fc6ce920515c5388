/**
 * The fault table (issue 15): one inference per run through the whole pipeline (fetch from a slow remote
 * host, the demo model, a generic processor, the built-in GeoServer publisher against the GeoServer double,
 * COCO export, a webhook whose receiver answers 500 to each webhook-id's first attempt), with one fault
 * injected mid-run, on a standalone API process, two worker processes (node dist/src/worker.js), real
 * PostgreSQL and MinIO (from scripts/with-services.sh) and a Temporal dev server this script starts (so it
 * can kill it). Prints a markdown table, one row per scenario. Not a test.
 *
 *   npm run bench:faults                                   # every scenario once, outages of 30 s and 120 s
 *   npm run bench:faults -- --runs 3 --outage-seconds 30 --scenarios kill-model,postgres-outage
 *
 * Scenarios: kill-fetch, kill-model, kill-processor, kill-publish, kill-coco, kill-webhook (kill -9 of the
 * worker running that step; a replacement worker starts at once, the other worker keeps polling),
 * kill-temporal (kill -9 of the Temporal server, restarted 5 s later on the same SQLite file), postgres-outage
 * and minio-outage (the API's and the workers' connections to it cut and refused for each --outage-seconds,
 * through a TCP proxy in front of the real service), kill-api (kill -9 of the API, restarted 5 s later).
 *
 * Columns: completed without human action (k/N); time to recover: for a killed worker, from the kill until the
 * step runs on another worker; for the others, from the dependency (or API) being back until the inference is
 * COMPLETED; outputs (the task's mask) and COCO (ids and date replaced) identical to an uninterrupted run;
 * webhook: webhook-ids that got a 2xx / ids sent; the HTTP statuses a client polling GET /api/v2/inference/{id},
 * GET /api/v2/inference (every 0.5 s) and POST /api/v2/inference (every 5 s; 10 s client timeout) saw from the fault until
 * recovery, and its slowest answer (a hang is anything over 5 s).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { demoModelMetadata } from '../scripts/demo-model';
import { INFERENCE_SEARCH_ATTRIBUTES } from '../workflows/contract/search-attributes';
import { freePort } from '../src/platform/free-port';
import { repoRoot } from '../src/platform/repo-root';
import { ApiClient } from '../test/support/api-client';
import {
  activityAttempts,
  comparableCoco,
  pendingActivities,
  poll,
  sha256,
  startHoldingHttpProxy,
  workerOf,
} from '../test/support/faults';
import { startGeoServerDouble } from '../test/support/geoserver-double';
import { makeSampleGeoTiff } from '../test/support/python';
import { demoModelPaths, requiredEnv } from '../test/support/services';
import { USERS } from '../test/support/stack';
import { hostPort, startTcpProxy } from '../test/support/tcp-proxy';
import { spawnWorker, waitForExit } from '../test/support/worker-process';

const SCENARIOS = [
  'kill-fetch',
  'kill-model',
  'kill-processor',
  'kill-publish',
  'kill-coco',
  'kill-webhook',
  'kill-temporal',
  'postgres-outage',
  'minio-outage',
  'kill-api',
] as const;
type Scenario = (typeof SCENARIOS)[number];

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}
const RUNS = Number(argument('runs') ?? 1);
const OUTAGES = (argument('outage-seconds') ?? '30,120').split(',').map(Number);
const CHOSEN = (argument('scenarios') ?? SCENARIOS.join(',')).split(',') as Scenario[];
for (const scenario of CHOSEN) if (!SCENARIOS.includes(scenario)) throw new Error(`unknown scenario ${scenario}`);
const WEBHOOK_SECRET = `whsec_${Buffer.from('fault-table-secret-0123456789ab').toString('base64')}`;
const HANG_MS = 5000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stderr.write(`[faults] ${line}\n`);

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-faults-'));

/** The Temporal dev server, on a fixed port and SQLite file so a kill -9 and a restart keep its state. */
function temporalServer(port: number) {
  const db = path.join(workDir, 'temporal.sqlite');
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port)];
    args.push('--db-filename', db, '--log-level', 'error', '--namespace', 'default');
    for (const key of INFERENCE_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);
    const out = fs.openSync(path.join(workDir, 'temporal.log'), 'a');
    child = spawn(requiredEnv('TEMPORAL_CLI_PATH'), args, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    await poll('the Temporal server', async () => {
      try {
        const connection = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 1000 });
        await connection.close();
        return true;
      } catch {
        return undefined;
      }
    });
  };
  return {
    address: `127.0.0.1:${port}`,
    start,
    async kill() {
      child?.kill('SIGKILL');
      if (child) await waitForExit(child);
    },
  };
}

/** A remote host that serves files at about 1/3 of their size per second, so fetching a scene takes ~3 s. */
async function startSlowFileServer(root: string) {
  const server = http.createServer((request, response) => {
    const file = path.join(root, path.basename(request.url ?? ''));
    if (!fs.existsSync(file)) return void response.writeHead(404).end('not found');
    const data = fs.readFileSync(file);
    response.writeHead(200, { 'Content-Type': 'image/tiff', 'Content-Length': data.length });
    const chunk = Math.ceil(data.length / 30);
    let offset = 0;
    const timer = setInterval(() => {
      if (response.destroyed || offset >= data.length) return void (clearInterval(timer), response.end());
      response.write(data.subarray(offset, (offset += chunk)));
    }, 100);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: (name: string) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/${name}`,
    close: () => (server.closeAllConnections(), new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}

/** The webhook receiver: 500 to each webhook-id's first attempt, 2xx after; `holdNext` leaves one unanswered. */
async function startReceiver() {
  const attempts = new Map<string, number[]>();
  let hold = false;
  let held = 0;
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const id = String(request.headers['webhook-id']);
      if (hold) {
        hold = false;
        held++;
        return;
      }
      const statuses = attempts.get(id) ?? [];
      const status = statuses.length === 0 ? 500 : 200;
      attempts.set(id, [...statuses, status]);
      response.writeHead(status).end(status === 200 ? 'ok' : 'first attempt refused');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    attempts,
    holdNext: () => (hold = true),
    held: () => held,
    close: () => (server.closeAllConnections(), new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}

/** A client polling the API through the fault: status codes (or `timeout` / `refused`) and latencies. */
function startClient(api: ApiClient, inferenceId: string, body: unknown) {
  const seen: Array<{ at: number; status: string; ms: number }> = [];
  let running = true;
  const call = async (method: string, route: string, payload?: unknown) => {
    const started = Date.now();
    let status: string;
    try {
      const response = await fetch(`${api.baseUrl}${route}`, {
        method,
        headers: { Authorization: `Bearer ${USERS.alice.key}`, 'Content-Type': 'application/json' },
        body: payload ? JSON.stringify(payload) : undefined,
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      status = String(response.status);
    } catch (error) {
      status = (error as Error).name === 'TimeoutError' ? 'timeout' : 'refused';
    }
    seen.push({ at: started, status, ms: Date.now() - started });
  };
  const loop = (async () => {
    // POSTs every 5 s only: each creates an inference the workers then run, and a POST every 0.5 s piled up
    // hundreds of them during a 2-minute outage, so the run measured that backlog rather than the recovery.
    for (let round = 0; running; round++) {
      await Promise.all([
        call('GET', `/api/v2/inference/${inferenceId}`),
        call('GET', '/api/v2/inference?limit=5'),
        ...(round % 10 === 0 ? [call('POST', '/api/v2/inference', body)] : []),
      ]);
      await sleep(500);
    }
  })();
  return {
    seen,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

interface RunResult {
  completed: boolean;
  recoverMs?: number;
  outputIdentical: boolean;
  cocoIdentical: boolean;
  webhookOk: string;
  statuses: Map<string, number>;
  slowestMs: number;
  note?: string;
}

async function main() {
  const fixtureDir = path.join(workDir, 'fixtures');
  fs.mkdirSync(fixtureDir);
  await makeSampleGeoTiff(path.join(fixtureDir, 'scene.tif'), 1024, 15);
  const files = await startSlowFileServer(fixtureDir);
  const geoserver = await startGeoServerDouble({ user: 'admin', password: 'faults' });
  const receiver = await startReceiver();
  const temporal = temporalServer(await freePort());
  await temporal.start();
  const temporalClient = new Client({ connection: await Connection.connect({ address: temporal.address }) });

  // PostgreSQL and MinIO as the app sees them: through TCP proxies the outages close; the workers' storage
  // path also through an HTTP proxy that can hold one coco.json PUT (the moment the COCO export is mid-step).
  const database = new URL(requiredEnv('DATABASE_URL'));
  const databaseProxy = await startTcpProxy({ host: database.hostname, port: Number(database.port || 5432) });
  database.host = databaseProxy.address;
  const storageHold = await startHoldingHttpProxy(hostPort(requiredEnv('MINIO_ENDPOINT')));
  const storageProxy = await startTcpProxy(hostPort(`http://${storageHold.address}`));
  const apiPort = await freePort();
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    FETCH_ALLOW_PRIVATE_ADDRESSES: 'true',
    DATA_DIR: path.join(workDir, 'api-data'),
    API_KEYS: `${USERS.alice.key}:${USERS.alice.email}`,
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_INFERENCES_PER_MINUTE: '0',
    DATABASE_URL: database.toString(),
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: `faults-${Date.now()}`,
    STORAGE_DRIVER: 'minio',
    STORAGE_BUCKET: 'geo-inference-faults',
    MINIO_ENDPOINT: `http://${storageProxy.address}`,
    MINIO_ACCESS_KEY: requiredEnv('MINIO_ACCESS_KEY'),
    MINIO_SECRET_KEY: requiredEnv('MINIO_SECRET_KEY'),
    GEOSERVER_URL: geoserver.url,
    GEOSERVER_USER: 'admin',
    GEOSERVER_PASSWORD: 'faults',
    GEOSERVER_TIMEOUT_MS: '300000',
    WEBHOOK_TIMEOUT_MS: '300000',
    WEBHOOK_INITIAL_INTERVAL_SECONDS: '1',
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    WEBHOOK_SECRET,
    LOG_LEVEL: 'warn',
  };
  const apiLog = path.join(workDir, 'api.log');
  let apiProcess: ChildProcess | undefined;
  const startApi = async () => {
    const out = fs.openSync(apiLog, 'a');
    apiProcess = spawn(process.execPath, [path.join(repoRoot(), 'dist', 'src', 'main.js')], {
      cwd: repoRoot(),
      env: { ...process.env, ...env, RUN_WORKER: 'false', PORT: String(apiPort) },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    await poll('the API', async () => {
      try {
        return (await fetch(`http://127.0.0.1:${apiPort}/api/health/live`)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    });
  };
  await startApi();
  const api = new ApiClient(`http://127.0.0.1:${apiPort}`).as(USERS.alice.key);
  const workerLog = path.join(workDir, 'workers.log');
  let workerCount = 0;
  const spawnOne = () => spawnWorker({ ...env, DATA_DIR: path.join(workDir, `worker-${workerCount++}`) }, workerLog);
  const workers = [spawnOne(), spawnOne()];

  const model = await api.registerModel(
    demoModelMetadata(demoModelPaths().meta, `csmask-faults-${Date.now()}`),
    demoModelPaths().model,
  );
  if (model.status !== 201) throw new Error(`model registration: ${model.status} ${model.text}`);
  const processor = await api.uploadProcessor(
    { name: 'slow-copy', processor_parameters: { seconds: 3 } },
    fs.readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'processors', 'slow_copy.py')),
    'slow_copy.py',
  );
  if (processor.status !== 201) throw new Error(`processor upload: ${processor.status} ${processor.text}`);
  const request = {
    model_id: model.body.id,
    spatial_domain: { urls: [files.url('scene.tif')] },
    temporal_domain: [],
    generic_processor_id: processor.body.id,
    webhook_url: receiver.url,
    webhook_secret: WEBHOOK_SECRET,
  };
  // What the polling client POSTs: an inference whose scene is missing, which the pipeline fails cheaply.
  const clientRequest = { ...request, spatial_domain: { urls: [files.url('missing.tif')] }, webhook_url: undefined };

  const outputsOf = async (inferenceId: string) => {
    const tasks = await api.get(`/api/v2/inference/${inferenceId}/tasks`);
    const taskIds: string[] = tasks.body.tasks.map((task: { task_id: string }) => task.task_id);
    const shas: string[] = [];
    for (const taskId of taskIds) {
      const url = (await api.get(`/api/v2/tasks/${taskId}/output-url`)).body.url as string;
      const file = path.join(workDir, `${taskId}.tif`);
      fs.writeFileSync(file, Buffer.from(await (await fetch(url)).arrayBuffer()));
      shas.push(sha256(file));
    }
    const coco = await api.get(`/api/v2/inference/${inferenceId}/coco`);
    return { shas: shas.join(','), coco: coco.status === 200 ? comparableCoco(coco.body, inferenceId, taskIds) : '' };
  };

  log('uninterrupted reference run');
  const reference = await api.post('/api/v2/inference', request);
  if (reference.status !== 201) throw new Error(`POST: ${reference.status} ${reference.text}`);
  if ((await api.waitForInference(reference.body.id, 600_000)).status !== 'COMPLETED')
    throw new Error('the uninterrupted run did not complete');
  const expected = await outputsOf(reference.body.id);

  const stepNames: Record<string, RegExp> = {
    'kill-fetch': /^fetchTaskInputs?$/,
    'kill-model': /^runModelInferences?$/,
    'kill-processor': /^runGenericProcessors?$/,
    'kill-publish': /^pushToGeoservers?$/,
    'kill-coco': /^exportCoco$/,
    'kill-webhook': /^deliverWebhook$/,
  };
  const modelTiling = async (handle: WorkflowHandle) =>
    poll('the model step tiling', async () =>
      (await pendingActivities(handle)).find(
        (activity) => /^runModelInferences?$/.test(activity.name) && activity.details,
      )
        ? true
        : undefined,
    );

  async function runOnce(scenario: Scenario, outageSeconds: number): Promise<RunResult> {
    if (scenario === 'kill-publish') geoserver.delayNext('PUT', /file\.geotiff$/, 120_000);
    if (scenario === 'kill-webhook') receiver.holdNext();
    const created = await api.post('/api/v2/inference', request);
    if (created.status !== 201) throw new Error(`POST: ${created.status} ${created.text}`);
    const inferenceId: string = created.body.id;
    if (scenario === 'kill-coco') storageHold.holdNext('PUT', new RegExp(`/inferences/${inferenceId}/coco\\.json$`));
    const handle = temporalClient.workflow.getHandle(inferenceId);
    let faultAt = 0;
    let backAt = 0;
    let recoverMs: number | undefined;
    let note: string | undefined;
    const client = startClient(api, inferenceId, clientRequest);
    try {
      const step = stepNames[scenario];
      if (step) {
        const ready: Record<string, () => boolean> = {
          'kill-publish': () => geoserver.requests.some((entry) => entry.status === 0),
          'kill-coco': () => storageHold.held.length > 0,
          'kill-webhook': () => receiver.held() > 0,
        };
        const running = await poll(
          `${scenario} mid-step`,
          async () =>
            (await pendingActivities(handle)).find(
              (activity) =>
                step.test(activity.name) &&
                activity.started &&
                (scenario !== 'kill-model' || activity.details !== undefined) &&
                (ready[scenario]?.() ?? true),
            ),
          300_000,
          100,
        );
        if (scenario === 'kill-processor') await sleep(1000);
        const victim = workerOf(workers, running.worker);
        victim.kill('SIGKILL');
        faultAt = Date.now();
        await waitForExit(victim);
        workers.splice(workers.indexOf(victim), 1, spawnOne());
        await poll(
          `${scenario}: the step on another worker`,
          async () => {
            if (
              (await pendingActivities(handle)).some(
                (activity) => step.test(activity.name) && activity.started && activity.worker !== running.worker,
              )
            )
              return true;
            const attempts = await activityAttempts(handle);
            return attempts.some((start) => step.test(start.name) && start.attempt >= 2) ? true : undefined;
          },
          600_000,
          100,
        );
        recoverMs = Date.now() - faultAt;
        backAt = Date.now();
      } else {
        await modelTiling(handle);
        faultAt = Date.now();
        if (scenario === 'kill-temporal') {
          await temporal.kill();
          await sleep(5000);
          await temporal.start();
        } else if (scenario === 'kill-api') {
          apiProcess?.kill('SIGKILL');
          if (apiProcess) await waitForExit(apiProcess);
          await sleep(5000);
          await startApi();
        } else {
          const proxy = scenario === 'postgres-outage' ? databaseProxy : storageProxy;
          await proxy.close();
          await sleep(outageSeconds * 1000);
          await proxy.open();
        }
        backAt = Date.now();
      }
      const finished = await api
        .waitForInference(inferenceId, 900_000)
        .catch((error: Error) => ({ status: 'UNKNOWN', message: error.message }));
      if (!step) recoverMs = Date.now() - backAt;
      const completed = finished.status === 'COMPLETED';
      if (!completed) note = `${finished.status}: ${finished.message ?? ''}`.slice(0, 160);
      const outputs = completed ? await outputsOf(inferenceId) : { shas: '', coco: '' };
      // The webhook's audit once a delivery got its 2xx (the receiver 500s each id's first attempt).
      const deliveries = await poll(
        'the webhook delivered',
        async () => {
          const response = await api.get(`/api/v2/inference/${inferenceId}/webhook-deliveries`);
          return response.body?.delivered ? response : undefined;
        },
        180_000,
        500,
      ).catch(() => api.get(`/api/v2/inference/${inferenceId}/webhook-deliveries`));
      const ids = new Set<string>(
        (deliveries.body?.results ?? []).map((row: { webhook_id: string }) => row.webhook_id).filter(Boolean),
      );
      const ok = [...ids].filter((id) => receiver.attempts.get(id)?.includes(200)).length;
      await sleep(3000); // a few more client calls after the recovery
      const window = client.seen.filter((call) => call.at >= faultAt && call.at <= Date.now());
      const statuses = new Map<string, number>();
      for (const call of window) statuses.set(call.status, (statuses.get(call.status) ?? 0) + 1);
      return {
        completed,
        recoverMs,
        outputIdentical: completed && outputs.shas === expected.shas,
        cocoIdentical: completed && outputs.coco === expected.coco,
        webhookOk: `${ok}/${ids.size}`,
        statuses,
        slowestMs: Math.max(0, ...window.map((call) => call.ms)),
        ...(note ? { note } : {}),
      };
    } finally {
      await client.stop();
    }
  }

  const rows: string[] = [];
  const notes: string[] = [];
  for (const scenario of CHOSEN) {
    for (const outage of scenario.endsWith('-outage') ? OUTAGES : [0]) {
      const label = outage ? `${scenario} ${outage} s` : scenario;
      const results: RunResult[] = [];
      for (let run = 0; run < RUNS; run++) {
        log(`${label}, run ${run + 1}/${RUNS}`);
        try {
          results.push(await runOnce(scenario, outage));
        } catch (error) {
          results.push({
            completed: false,
            outputIdentical: false,
            cocoIdentical: false,
            webhookOk: '-',
            statuses: new Map(),
            slowestMs: 0,
            note: (error as Error).message.slice(0, 160),
          });
        }
        const last = results.at(-1)!;
        log(`${label}: ${JSON.stringify({ ...last, statuses: Object.fromEntries(last.statuses) })}`);
      }
      const count = (pick: (result: RunResult) => boolean) => `${results.filter(pick).length}/${results.length}`;
      const recovered = results.map((result) => result.recoverMs).filter((ms): ms is number => ms !== undefined);
      const statuses = new Map<string, number>();
      for (const result of results)
        for (const [status, n] of result.statuses) statuses.set(status, (statuses.get(status) ?? 0) + n);
      const slowest = Math.max(0, ...results.map((result) => result.slowestMs));
      rows.push(
        `| ${label} | ${results.length} | ${count((r) => r.completed)} | ${
          recovered.length ? recovered.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ') : '-'
        } | ${count((r) => r.outputIdentical)} | ${count((r) => r.cocoIdentical)} | ${results
          .map((r) => r.webhookOk)
          .join(', ')} | ${[...statuses]
          .sort()
          .map(([status, n]) => `${status} x${n}`)
          .join(', ')} | ${(slowest / 1000).toFixed(1)} s${slowest > HANG_MS ? ' (hang)' : ''} |`,
      );
      for (const result of results) if (result.note) notes.push(`- ${label}: ${result.note}`);
    }
  }
  process.stdout.write(
    [
      '',
      `| scenario | runs | completed without human action | time to recover | outputs identical | COCO identical | webhook 2xx per id | client statuses from the fault to recovery | slowest answer |`,
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      ...notes,
      '',
    ].join('\n'),
  );

  await temporalClient.connection.close();
  for (const worker of workers) worker.kill('SIGTERM');
  for (const worker of workers) await waitForExit(worker);
  apiProcess?.kill('SIGTERM');
  if (apiProcess) await waitForExit(apiProcess);
  await temporal.kill();
  await Promise.all([databaseProxy.close(), storageProxy.close(), storageHold.close()]);
  await Promise.all([files.close(), geoserver.close(), receiver.close()]);
  if (process.env.KEEP_FAULTS_DIR !== '1') fs.rmSync(workDir, { recursive: true, force: true });
  else log(`kept ${workDir}`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${(error as Error).stack}\n(logs in ${workDir})\n`);
    process.exit(1);
  },
);
