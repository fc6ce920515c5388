import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { flushTracing } from '../../src/platform/tracing/tracing';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff } from '../support/python';
import { demoModelPaths } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';

interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

/** An OTLP/HTTP receiver (JSON encoding, as @opentelemetry/exporter-trace-otlp-http sends), like a collector. */
async function startOtlpReceiver(): Promise<{ url: string; spans: ExportedSpan[]; close(): void }> {
  const spans: ExportedSpan[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      if (request.method === 'POST' && request.url === '/v1/traces') {
        const payload = JSON.parse(body) as {
          resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: ExportedSpan[] }> }>;
        };
        for (const resource of payload.resourceSpans ?? [])
          for (const scope of resource.scopeSpans ?? []) spans.push(...(scope.spans ?? []));
        response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      } else {
        response.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, close: () => server.close() };
}

/** With OTEL_EXPORTER_OTLP_ENDPOINT set, one trace runs from the API request through the workflow to every activity. */
describe('tracing (OpenTelemetry)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let workDir: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-tracing-'));
    await makeSampleGeoTiff(path.join(workDir, 'sample.tif'), 256, 3);
    fixtures = await startFixtureServer(workDir);
    receiver = await startOtlpReceiver();
    stack = await startTestStack({
      storage: 'filesystem',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'geo-inference-test' },
    });
    api = new ApiClient(stack.baseUrl);
  });

  afterAll(async () => {
    await stack?.stop();
    receiver?.close();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('exports one trace from POST /api/v2/inference through the workflow to its activities', async () => {
    const name = `csmask-tracing-${Date.now()}`;
    expect(
      (await api.registerModel(demoModelMetadata(demoModelPaths().meta, name), demoModelPaths().model)).status,
    ).toBe(201);
    const created = await api.post('/api/v2/inference', {
      model_display_name: name,
      spatial_domain: { urls: [fixtures.url('sample.tif')] },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    expect((await api.waitForInference(created.body.id)).status).toBe('COMPLETED');

    expect((await api.get('/api/health')).status).toBe(200);
    let names: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      await flushTracing();
      const root = receiver.spans.find((span) => span.name === 'POST /api/v2/inference');
      names = root ? receiver.spans.filter((span) => span.traceId === root.traceId).map((span) => span.name) : [];
      if (names.some((spanName) => spanName.includes('RunActivity:pushToGeoserver'))) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    for (const expected of [
      'StartWorkflow:inferenceWorkflow',
      'RunWorkflow:inferenceWorkflow',
      'RunActivity:fetchTaskInput',
      'RunActivity:runModelInference',
      'RunActivity:pushToGeoserver',
    ]) {
      expect(names).toEqual(expect.arrayContaining([expect.stringContaining(expected)]));
    }
    // Requests that start nothing are traces of their own.
    const health = receiver.spans.find((span) => span.name === 'GET /api/health');
    const root = receiver.spans.find((span) => span.name === 'POST /api/v2/inference')!;
    expect(health).toBeDefined();
    expect(health!.traceId).not.toBe(root.traceId);
  }, 240_000);
});
