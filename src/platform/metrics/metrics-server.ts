import * as http from 'node:http';
import { metricsRegistry } from './metrics';

/** GET /metrics of a process without the HTTP API (standalone worker): step, task and webhook metrics. */
export async function serveMetrics(port: number, host = '0.0.0.0'): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ statusCode: 404, error: 'Not Found', message: 'only GET /metrics here' }));
      return;
    }
    metricsRegistry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(body),
      (error: Error) =>
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${error.message}`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
