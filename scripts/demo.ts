/**
 * `npm run demo`: the main job end to end on embedded defaults. Starts the whole stack (embedded Postgres
 * engine, filesystem storage, Temporal dev server, API and worker) as `npm start` does, registers the demo
 * cloud-mask model, runs an inference on the bundled sample Sentinel-2 scene, shows each pipeline step on a
 * line as it ends, the time to the first result (from the start of `npm run demo`, scripts/ready.sh's
 * GEO_READY_STARTED_MS) and where to look at it. The stack's own log goes to DATA_DIR/server.log; its
 * warnings and errors are shown too. Ctrl-C stops everything.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { demoModelMetadata } from './demo-model';

const run = promisify(execFile);
const repoRoot = path.resolve(__dirname, '..', '..');
const dataDir = process.env.DATA_DIR ?? path.join(repoRoot, '.data', 'demo');
const port = Number(process.env.PORT ?? 3000);
const apiKey = 'demo-key';
const baseUrl = `http://localhost:${port}`;
const serverLogPath = path.join(dataDir, 'server.log');
let server: ChildProcess | undefined;

function readToolchainEnv(): Record<string, string> {
  const file = path.join(repoRoot, '.data', 'toolchain.env');
  const env: Record<string, string> = {};
  if (!fs.existsSync(file)) return env;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const match = /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) env[match[1]] = match[2].replace(/^['"]|['"]$/g, '');
  }
  return env;
}

async function api(method: string, route: string, body?: unknown): Promise<any> {
  const response = await fetch(`${baseUrl}${route}`, {
    method,
    headers: {
      Authorization: `Bearer ${apiKey}`,
      ...(body && !(body instanceof FormData) ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body instanceof FormData ? body : body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw new Error(`${method} ${route} -> ${response.status}: ${text}`);
  return parsed;
}

async function waitForApi(server: ChildProcess): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the server exited with code ${server.exitCode}`);
    try {
      const response = await fetch(`${baseUrl}/api/health`);
      if (response.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error('the server did not become healthy within 3 minutes');
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Every line of the server into the log file; its warnings and errors (pino JSON) also on the console. */
function followServerOutput(stream: Readable, log: fs.WriteStream): void {
  createInterface({ input: stream }).on('line', (line) => {
    log.write(`${line}\n`);
    let entry: { level?: string; msg?: string; err?: { message?: string } } | undefined;
    try {
      entry = JSON.parse(line);
    } catch {
      return; // the Temporal CLI's banner and other plain lines: in the log only
    }
    if (entry && ['warn', 'error', 'fatal'].includes(entry.level ?? ''))
      console.log(`  ! ${entry.level}: ${entry.msg ?? ''}${entry.err?.message ? ` (${entry.err.message})` : ''}`);
  });
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Polls the inference's first task and prints each pipeline step once it has ended, with its time (steps run
 * one after another, so a step's time runs from the end of the one before). On a terminal the running step
 * shows on a line that is overwritten.
 */
async function followSteps(inferenceId: string, since: number): Promise<string> {
  const live = process.stdout.isTTY;
  const ended = new Set<string>();
  let previousEnd = since;
  let status = 'PENDING';
  for (;;) {
    const tasks = await api('GET', `/api/v2/inference/${inferenceId}/tasks`);
    status = tasks.status;
    const steps: Array<{ process_id: string; status: string }> = tasks.tasks[0]?.pipeline_steps ?? [];
    const now = Date.now();
    if (live) process.stdout.write('\r\x1b[2K');
    for (const step of steps) {
      if (!['FINISHED', 'FAILED', 'STOPPED'].includes(step.status) || ended.has(step.process_id)) continue;
      ended.add(step.process_id);
      const outcome = step.status === 'FINISHED' ? '✓' : `✗ ${step.status}`;
      console.log(`  ${outcome} ${step.process_id} (${seconds(now - previousEnd)})`);
      previousEnd = now;
    }
    if (['COMPLETED', 'FAILED', 'STOPPED'].includes(status)) return status;
    const running = steps.find((step) => step.status === 'RUNNING');
    if (live && running) process.stdout.write(`  … ${running.process_id} (${seconds(now - previousEnd)})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function main(): Promise<void> {
  const demoStarted = Date.now();
  // scripts/ready.sh sets it when `npm run demo` starts (before installing and building).
  const readyStarted = Number(process.env.GEO_READY_STARTED_MS) || demoStarted;
  const toolchain = readToolchainEnv();
  const modelPath = process.env.DEMO_MODEL_PATH ?? toolchain.DEMO_MODEL_PATH;
  const metaPath = process.env.DEMO_MODEL_META_PATH ?? toolchain.DEMO_MODEL_META_PATH;
  const python = process.env.PYTHON_BIN ?? toolchain.PYTHON_BIN ?? 'python3';
  if (!modelPath || !metaPath) throw new Error('demo model not found: run `bash scripts/provision.sh demo` first');

  fs.mkdirSync(dataDir, { recursive: true });
  const samplePath = path.join(dataDir, 'sample-s2-l2a.tif');
  // Made while the stack starts: the inference is the first thing that needs it.
  const sampleReady = fs.existsSync(samplePath)
    ? Promise.resolve()
    : run(python, [
        path.join(repoRoot, 'python', 'make_sample_geotiff.py'),
        samplePath,
        '--size',
        '1024',
        '--seed',
        '7',
      ])
        .then(() => undefined)
        .catch((error: Error & { stderr?: string }) => {
          throw new Error(`generating the sample scene failed: ${error.stderr || error.message}`);
        });
  sampleReady.catch(() => undefined); // reported where it is awaited

  // The sample is handed to the pipeline by URL, as a user would point at imagery on their own server.
  const fileServer = http.createServer((request, response) => {
    if (request.url !== '/sample-s2-l2a.tif') return void response.writeHead(404).end();
    response.writeHead(200, { 'Content-Type': 'image/tiff', 'Content-Length': fs.statSync(samplePath).size });
    fs.createReadStream(samplePath).pipe(response);
  });
  await new Promise<void>((resolve) => fileServer.listen(0, '127.0.0.1', resolve));
  const sampleUrl = `http://127.0.0.1:${(fileServer.address() as AddressInfo).port}/sample-s2-l2a.tif`;

  const stackStarted = Date.now();
  const serverLog = fs.createWriteStream(serverLogPath, { flags: 'a' });
  serverLog.write(`---- npm run demo, ${new Date().toISOString()} ----\n`);
  server = spawn(process.execPath, [path.join(repoRoot, 'dist', 'src', 'main.js')], {
    cwd: repoRoot,
    env: {
      ...toolchain,
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      API_KEYS: `${apiKey}:demo@localhost`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  followServerOutput(server.stdout!, serverLog);
  followServerOutput(server.stderr!, serverLog);
  const stop = () => {
    server?.kill('SIGTERM');
    fileServer.close();
  };
  process.on('SIGINT', () => {
    stop();
    process.exit(130);
  });
  await waitForApi(server);
  console.log(
    `• stack up: API on ${baseUrl}, worker, embedded PostgreSQL, Temporal dev server (${seconds(Date.now() - stackStarted)})`,
  );

  const metadata = demoModelMetadata(metaPath);
  const existing = (await api('GET', '/api/v2/models?limit=1000')).results.find(
    (model: any) => model.display_name === metadata.display_name,
  );
  let model = existing;
  if (!model) {
    const t0 = Date.now();
    const form = new FormData();
    form.set('model', JSON.stringify(metadata));
    form.set('model_file', new Blob([fs.readFileSync(modelPath)]), path.basename(modelPath));
    model = await api('POST', '/api/v2/models', form);
    console.log(`• demo model ${metadata.display_name} registered: ${model.status} (${seconds(Date.now() - t0)})`);
  } else {
    console.log(`• demo model ${metadata.display_name} already registered: ${model.status}`);
  }

  await sampleReady;
  const inferenceStarted = Date.now();
  const inference = await api('POST', '/api/v2/inference', {
    model_id: model.id,
    description: 'Demo: clouds and cloud shadows in the bundled sample scene',
    location: 'Austria (synthetic sample)',
    spatial_domain: { urls: [sampleUrl] },
    temporal_domain: ['2024-06-15'],
  });
  console.log(`• inference ${inference.id}`);
  const status = await followSteps(inference.id, inferenceStarted);
  const finished = Date.now();

  const tasks = await api('GET', `/api/v2/inference/${inference.id}/tasks`);
  const task = tasks.tasks[0];
  const where: Array<[string, string]> = [];
  if (status !== 'COMPLETED') {
    console.log(`✗ inference ${status}: ${task?.message ?? ''}`);
  } else {
    const output = await api('GET', `/api/v2/tasks/${task.task_id}/output-url`);
    const inferenceStep = task.pipeline_steps.find((step: any) => step.process_id === 'model-inference');
    console.log(
      `✓ first result ${seconds(finished - readyStarted)} after the start of \`npm run demo\`` +
        ` (install and build ${seconds(demoStarted - readyStarted)}, stack start and model registration ${seconds(inferenceStarted - demoStarted)}, inference ${seconds(finished - inferenceStarted)})`,
    );
    console.log(`  class pixel counts: ${JSON.stringify(inferenceStep.result.class_pixel_counts)}`);
    if (task.map_url) where.push(['the result on a map', task.map_url]);
    where.push(['output mask (COG)', path.join(dataDir, 'objects', output.output_key)]);
    where.push(['  its signed URL', output.url]);
  }
  where.push(['web console', `${baseUrl}/inferences/${inference.id} (sign in with the API key ${apiKey})`]);
  where.push(['Temporal Web UI', inference.temporal_ui_url]);
  where.push([
    'the API',
    `curl -H 'Authorization: Bearer ${apiKey}' ${baseUrl}/api/v2/inference/${inference.id}  (+ /tasks: its steps)`,
  ]);
  where.push([
    'server log',
    serverLogPath.startsWith(`${process.cwd()}/`) ? path.relative(process.cwd(), serverLogPath) : serverLogPath,
  ]);
  console.log('Where to look:');
  const width = Math.max(...where.map(([label]) => label.length));
  for (const [label, value] of where) console.log(`  ${label.padEnd(width)}  ${value}`);
  if (process.env.DEMO_EXIT === '1' || process.env.CI) {
    stop();
    await new Promise((resolve) => server?.once('exit', resolve));
    process.exit(status === 'COMPLETED' ? 0 : 1);
  }
  console.log('The stack keeps running so you can explore the map, the Web UI and the API; Ctrl-C stops it.');
}

main().catch((error: Error) => {
  if (server) {
    console.error(`the end of ${serverLogPath}:\n${tail(serverLogPath, 30)}`);
    server.kill('SIGTERM');
  }
  console.error(`demo failed: ${error.message}`);
  process.exit(1);
});
