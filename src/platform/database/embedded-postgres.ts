import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';

/**
 * Embedded default for the metadata DB: PGlite (Postgres compiled to WASM, persisted under the data dir)
 * exposed on a loopback port through the Postgres wire protocol, so the same `pg` driver, entities and
 * migrations run against it as against a real PostgreSQL server. Not for production.
 */
export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const directory = path.join(dataDir, 'pglite');
  fs.mkdirSync(directory, { recursive: true });
  // Built (dist/): the engine runs in its own thread, off the event loop that serves the API and the worker.
  const threadScript = path.join(__dirname, 'embedded-postgres-thread.js');
  if (fs.existsSync(threadScript)) return startInThread(threadScript, directory);
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create(directory);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 20 });
  await server.start();
  const address = (server as unknown as { server: { address(): AddressInfo } }).server.address();
  return {
    url: `postgres://postgres@127.0.0.1:${address.port}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

type ThreadMessage = { port?: number; stopped?: boolean; error?: string };

async function startInThread(script: string, directory: string): Promise<EmbeddedPostgres> {
  const thread = new Worker(script, { workerData: { directory } });
  const next = () =>
    new Promise<ThreadMessage>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the embedded database thread exited with ${code}`));
      thread.once('error', reject);
      thread.once('exit', onExit);
      thread.once('message', (message: ThreadMessage) => {
        thread.off('error', reject);
        thread.off('exit', onExit);
        resolve(message);
      });
    });
  const ready = await next();
  if (ready.error || ready.port === undefined) {
    await thread.terminate();
    throw new Error(`the embedded database did not start: ${ready.error ?? 'no port'}`);
  }
  return {
    url: `postgres://postgres@127.0.0.1:${ready.port}/postgres`,
    async stop() {
      const stopped = next().catch(() => ({}));
      thread.postMessage('stop');
      await stopped;
      await thread.terminate();
    },
  };
}
