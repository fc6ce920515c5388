/**
 * `npm run fuzz:api`: schema-driven fuzzing of the REST API with schemathesis against its own /docs-json.
 * Starts the API with an in-process worker on the services of scripts/with-services.sh (or fuzzes a running
 * one: FUZZ_BASE_URL and FUZZ_API_KEY), registers a model, a processor and an inference so the lists have
 * something to check against their schemas, runs schemathesis bounded in examples and time, prints the
 * figures, and fails on any server error or answer that does not match the document.
 *
 *   FUZZ_MAX_EXAMPLES (default 20)   test cases per operation and phase
 *   FUZZ_MAX_TIME_SECONDS (120)      time budget of the whole run
 *   FUZZ_REPORT_DIR (.data/fuzz)     schemathesis's JUnit report
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataSource } from 'typeorm';
import { createApiApp } from '../src/app';
import { OBJECT_STORE } from '../src/api/storage.module';
import { loadConfig } from '../src/platform/config/config';
import type { ObjectStore } from '../src/platform/storage/object-store';
import { createPipelineWorkers } from '../src/pipeline/worker';
import { installTemporalRuntime } from '../src/platform/temporal/runtime';
import { repoPath } from '../src/platform/repo-root';
import { demoModelMetadata } from './demo-model';
import { runSchemathesis } from './schemathesis';
import { freePort } from '../src/platform/free-port';

/** A model, a processor and an inference of the fuzzing user, so lists and their item schemas are exercised. */
async function seed(baseUrl: string, apiKey: string): Promise<void> {
  const auth = { Authorization: `Bearer ${apiKey}` };
  const modelPath = process.env.DEMO_MODEL_PATH;
  const metaPath = process.env.DEMO_MODEL_META_PATH;
  if (modelPath && metaPath) {
    const form = new FormData();
    form.set('model', JSON.stringify(demoModelMetadata(metaPath, `fuzz-${Date.now()}`)));
    form.set('model_file', new Blob([fs.readFileSync(modelPath)]), path.basename(modelPath));
    const model = await fetch(`${baseUrl}/api/v2/models`, { method: 'POST', headers: auth, body: form });
    const created = (await model.json()) as { id?: string };
    if (created.id) {
      await fetch(`${baseUrl}/api/v2/inference`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          model_id: created.id,
          spatial_domain: { urls: ['http://127.0.0.1:9/unreachable.tif'] },
          temporal_domain: [],
        }),
      });
    }
  }
  const processor = new FormData();
  processor.set('generic_processor', JSON.stringify({ name: 'fuzz-seed', processor_parameters: { k: 1 } }));
  processor.set('generic_processor_file', new Blob(['import sys\n']), 'seed.py');
  await fetch(`${baseUrl}/api/v2/generic-processor`, { method: 'POST', headers: auth, body: processor });
}

async function main(): Promise<void> {
  const maxExamples = Number(process.env.FUZZ_MAX_EXAMPLES ?? 20);
  const maxTimeSeconds = Number(process.env.FUZZ_MAX_TIME_SECONDS ?? 120);
  const reportDir = process.env.FUZZ_REPORT_DIR ?? repoPath('.data', 'fuzz');
  let baseUrl = process.env.FUZZ_BASE_URL?.replace(/\/$/, '');
  let apiKey = process.env.FUZZ_API_KEY ?? 'dev-key';
  let stop = async () => {};
  if (!baseUrl) {
    const port = await freePort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-fuzz-'));
    apiKey = `fuzz-${randomBytes(12).toString('hex')}`;
    Object.assign(process.env, {
      NODE_ENV: 'test',
      PORT: String(port),
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir,
      API_KEYS: `${apiKey}:fuzz@example.com,${apiKey}-other:other@example.com`,
      STORAGE_DRIVER: 'filesystem',
      TEMPORAL_TASK_QUEUE: `fuzz-${randomBytes(4).toString('hex')}`,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'error',
      // Activities still retrying the seeded unreachable URL need not finish: this stack is thrown away.
      WORKER_SHUTDOWN_GRACE_SECONDS: '1',
      // Validation is fuzzed here, not the per-key rate limits (a 429 would hide what the request reaches).
      RATE_LIMIT_PER_MINUTE: '0',
      RATE_LIMIT_INFERENCES_PER_MINUTE: '0',
    });
    if (!process.env.DATABASE_URL || !process.env.TEMPORAL_ADDRESS)
      throw new Error('DATABASE_URL and TEMPORAL_ADDRESS are needed: run through scripts/with-services.sh');
    const config = loadConfig();
    // SDK logs through pino at LOG_LEVEL (retries of the seeded inference's unreachable URL are not news).
    installTemporalRuntime(config);
    const app = await createApiApp({ logger: ['error'] });
    await app.listen(port, '127.0.0.1');
    const workers = await createPipelineWorkers({
      config,
      dataSource: app.get(DataSource),
      store: app.get<ObjectStore>(OBJECT_STORE),
    });
    const running = workers.run();
    baseUrl = `http://127.0.0.1:${port}`;
    stop = async () => {
      workers.shutdown();
      await running.catch(() => undefined);
      await app.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    };
  }
  try {
    await seed(baseUrl, apiKey);
    const summary = await runSchemathesis({ baseUrl, apiKey, maxExamples, maxTimeSeconds, reportDir });
    console.log('\nfuzz:api figures');
    console.log(`  operations tested        ${summary.operations}`);
    console.log(`  requests (test cases)    ${summary.requests}`);
    console.log(`  server errors            ${summary.serverErrors}`);
    console.log(`  schema violations        ${summary.schemaViolations}`);
    console.log(`  other failures           ${JSON.stringify(summary.failures)}`);
    console.log(`  schemathesis's own errors ${summary.toolErrors} (exit code ${summary.exitCode})`);
    for (const line of summary.failedOperations) console.log(`  failed: ${line}`);
    // schemathesis's own runtime errors (a generator crashing) are reported, not blamed on the API.
    const failed = summary.requests === 0 || Object.keys(summary.failures).length > 0;
    process.exitCode = failed ? 1 : 0;
  } finally {
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 20_000).unref());
    await Promise.race([stop(), timeout]);
  }
}

// The Temporal runtime keeps the process alive after the workers stop: exit with the run's status.
main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: Error) => {
    console.error(error.stack ?? error.message);
    process.exit(1);
  },
);
