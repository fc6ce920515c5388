// The embedded engine (PGlite behind pglite-socket, as src/platform/database/embedded-postgres.ts starts it) in a
// process of its own: PGlite loads its WASM through a dynamic import, which Jest's module runtime cannot do.
// Prints the connection URL on stdout, then serves until stdin closes. Data in memory only.
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const db = await PGlite.create();
const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 20 });
await server.start();
process.stdout.write(`postgres://postgres@127.0.0.1:${server.server.address().port}/postgres\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await server.stop();
  await db.close();
  process.exit(0);
});
