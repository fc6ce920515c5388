/**
 * `npm run demo`: the main job end to end on embedded defaults. Starts the whole stack (embedded Postgres
 * engine, filesystem storage, Temporal dev server, API and worker) as `npm start` does, registers the demo
 * cloud-mask model, runs an inference on the bundled sample Sentinel-2 scene, shows each step's progress,
 * and prints where the outputs are and the workflow's Temporal Web UI link. Ctrl-C stops everything.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { demoModelMetadata } from './demo-model';

const repoRoot = path.resolve(__dirname, '..', '..');
const dataDir = process.env.DATA_DIR ?? path.join(repoRoot, '.data', 'demo');
const port = Number(process.env.PORT ?? 3000);
const apiKey = 'demo-key';
const baseUrl = `http://localhost:${port}`;

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

async function main(): Promise<void> {
  const toolchain = readToolchainEnv();
  const modelPath = process.env.DEMO_MODEL_PATH ?? toolchain.DEMO_MODEL_PATH;
  const metaPath = process.env.DEMO_MODEL_META_PATH ?? toolchain.DEMO_MODEL_META_PATH;
  const python = process.env.PYTHON_BIN ?? toolchain.PYTHON_BIN ?? 'python3';
  if (!modelPath || !metaPath) throw new Error('demo model not found: run `bash scripts/provision.sh demo` first');

  fs.mkdirSync(dataDir, { recursive: true });
  const samplePath = path.join(dataDir, 'sample-s2-l2a.tif');
  if (!fs.existsSync(samplePath)) {
    console.log('• generating the sample Sentinel-2 L2A scene (6 bands, 1024 x 1024, EPSG:32633)');
    execFileSync(
      python,
      [path.join(repoRoot, 'python', 'make_sample_geotiff.py'), samplePath, '--size', '1024', '--seed', '7'],
      { stdio: 'inherit' },
    );
  }

  // The sample is handed to the pipeline by URL, as a user would point at imagery on their own server.
  const fileServer = http.createServer((request, response) => {
    if (request.url !== '/sample-s2-l2a.tif') return void response.writeHead(404).end();
    response.writeHead(200, { 'Content-Type': 'image/tiff', 'Content-Length': fs.statSync(samplePath).size });
    fs.createReadStream(samplePath).pipe(response);
  });
  await new Promise<void>((resolve) => fileServer.listen(0, '127.0.0.1', resolve));
  const sampleUrl = `http://127.0.0.1:${(fileServer.address() as AddressInfo).port}/sample-s2-l2a.tif`;

  console.log(`• starting the stack (data in ${dataDir})`);
  const server = spawn(process.execPath, [path.join(repoRoot, 'dist', 'src', 'main.js')], {
    cwd: repoRoot,
    // JSON request logs of every status poll would bury the demo's own output: warnings only unless asked.
    env: {
      LOG_LEVEL: 'warn',
      ...process.env,
      ...toolchain,
      DATA_DIR: dataDir,
      PORT: String(port),
      API_KEYS: `${apiKey}:demo@localhost`,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const stop = () => {
    server.kill('SIGTERM');
    fileServer.close();
  };
  process.on('SIGINT', () => {
    stop();
    process.exit(130);
  });
  await waitForApi(server);

  const metadata = demoModelMetadata(metaPath);
  const existing = (await api('GET', '/api/v2/models?limit=1000')).results.find(
    (model: any) => model.display_name === metadata.display_name,
  );
  let model = existing;
  if (!model) {
    console.log(`• registering the demo model ${metadata.display_name}`);
    const form = new FormData();
    form.set('model', JSON.stringify(metadata));
    form.set('model_file', new Blob([fs.readFileSync(modelPath)]), path.basename(modelPath));
    model = await api('POST', '/api/v2/models', form);
  }
  console.log(`  model ${model.id} status ${model.status}`);

  const inference = await api('POST', '/api/v2/inference', {
    model_id: model.id,
    description: 'Demo: clouds and cloud shadows in the bundled sample scene',
    location: 'Austria (synthetic sample)',
    spatial_domain: { urls: [sampleUrl] },
    temporal_domain: ['2024-06-15'],
  });
  console.log(`• inference ${inference.id} ${inference.status}`);
  console.log(`  Temporal Web UI: ${inference.temporal_ui_url}`);

  let lastLine = '';
  let status = inference.status;
  const started = Date.now();
  while (!['COMPLETED', 'FAILED', 'STOPPED'].includes(status)) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const tasks = await api('GET', `/api/v2/inference/${inference.id}/tasks`);
    status = tasks.status;
    const steps = tasks.tasks[0].pipeline_steps.map((step: any) => `${step.process_id}=${step.status}`).join('  ');
    const line = `  [${((Date.now() - started) / 1000).toFixed(0)}s] ${status}  ${steps}`;
    if (line.replace(/\[\d+s\]/, '') !== lastLine.replace(/\[\d+s\]/, '')) console.log(line);
    lastLine = line;
  }

  const tasks = await api('GET', `/api/v2/inference/${inference.id}/tasks`);
  const task = tasks.tasks[0];
  if (status !== 'COMPLETED') {
    console.log(`✗ inference ${status}: ${task.message ?? ''}`);
  } else {
    const output = await api('GET', `/api/v2/tasks/${task.task_id}/output-url`);
    const inferenceStep = task.pipeline_steps.find((step: any) => step.process_id === 'model-inference');
    console.log(`✓ inference COMPLETED in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`  class pixel counts: ${JSON.stringify(inferenceStep.result.class_pixel_counts)}`);
    console.log(`  output mask (GeoTIFF, object key ${output.output_key}):`);
    console.log(`    stored at ${path.join(dataDir, 'objects', output.output_key)}`);
    console.log(`    signed URL ${output.url}`);
    console.log(
      `  step logs: ${baseUrl}/api/v2/tasks/${task.task_id}/logs/model-inference (Authorization: Bearer ${apiKey})`,
    );
  }
  console.log(`  Temporal Web UI: ${inference.temporal_ui_url}`);
  console.log(`  API: ${baseUrl}/api/v2/inference/${inference.id} (Authorization: Bearer ${apiKey})`);
  console.log(`  Web console: ${baseUrl}/inferences/${inference.id} (sign in with the API key ${apiKey})`);
  if (process.env.DEMO_EXIT === '1' || process.env.CI) {
    stop();
    await new Promise((resolve) => server.once('exit', resolve));
    process.exit(status === 'COMPLETED' ? 0 : 1);
  }
  console.log('The stack keeps running so you can explore the Web UI and the API; Ctrl-C stops it.');
}

main().catch((error: Error) => {
  console.error(`demo failed: ${error.message}`);
  process.exit(1);
});
