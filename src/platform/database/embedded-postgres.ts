import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';

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
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const directory = path.join(dataDir, 'pglite');
  fs.mkdirSync(directory, { recursive: true });
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
