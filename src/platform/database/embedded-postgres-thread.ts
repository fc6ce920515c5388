/**
 * The embedded PGlite engine in a thread of its own (started by embedded-postgres.ts): PGlite executes every query
 * as WASM on the thread that owns it, so on the API's thread each query stalled every request of the process
 * (GET /api/v2/inference/{id} waited behind the worker's projection writes). Posts `{ port }` once it listens,
 * `{ stopped: true }` after a `stop` message.
 */
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

async function serve(): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create((workerData as { directory: string }).directory);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 20 });
  await server.start();
  const address = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  parentPort!.on('message', (message: unknown) => {
    if (message !== 'stop') return;
    void (async () => {
      await server.stop();
      await db.close();
      parentPort!.postMessage({ stopped: true });
    })();
  });
  parentPort!.postMessage({ port: address.port });
}

serve().catch((error: unknown) => parentPort!.postMessage({ error: (error as Error).stack ?? String(error) }));
