import * as net from 'node:net';

/**
 * A loopback TCP proxy in front of a real service, so a test can take that service "down" for the app
 * (close: refuse new connections and cut open ones) and bring it back (open) without touching the
 * service other test files share.
 */
export async function startTcpProxy(target: {
  host: string;
  port: number;
}): Promise<{ port: number; address: string; close(): Promise<void>; open(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as net.AddressInfo).port;
        resolve();
      });
    });
  await listen();
  return {
    port,
    address: `127.0.0.1:${port}`,
    async close() {
      const closing = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      for (const socket of sockets) socket.destroy();
      await closing;
      server = undefined;
    },
    async open() {
      if (!server) await listen();
    },
  };
}

export function hostPort(value: string): { host: string; port: number } {
  const url = new URL(value.includes('://') ? value : `tcp://${value}`);
  return { host: url.hostname, port: Number(url.port) };
}
