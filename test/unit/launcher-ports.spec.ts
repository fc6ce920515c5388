import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/platform/config/config';
import {
  assertPortFree,
  devServerMarkerNamespace,
  PortInUseError,
  startTemporalDevServer,
} from '../../src/platform/temporal/dev-server';

/** Another process's server on a loopback port (a second checkout's dev server, another app). */
async function occupyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('embedded stack ports', () => {
  it('refuses a taken port, naming the port and the variable to change', async () => {
    const taken = await occupyPort();
    try {
      await expect(assertPortFree(taken.port, 'PORT')).rejects.toThrow(
        `port ${taken.port} (PORT) is already in use by another process: set PORT to a free port`,
      );
      await expect(assertPortFree(0, 'PORT')).resolves.toBeUndefined();
    } finally {
      await taken.close();
    }
    await expect(assertPortFree(taken.port, 'PORT')).resolves.toBeUndefined();
  });

  it('does not start (nor connect to) a Temporal dev server when its port is taken', async () => {
    const taken = await occupyPort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-ports-'));
    try {
      const config = { ...loadConfig(), DATA_DIR: dataDir, TEMPORAL_DEV_PORT: taken.port };
      const started = startTemporalDevServer(config);
      await expect(started).rejects.toBeInstanceOf(PortInUseError);
      await expect(started).rejects.toThrow(
        new RegExp(
          `port ${taken.port} \\(TEMPORAL_DEV_PORT\\) .* set TEMPORAL_DEV_PORT to a free port, or TEMPORAL_ADDRESS`,
        ),
      );
      // Nothing was created for a server that never started.
      expect(fs.existsSync(path.join(dataDir, 'temporal'))).toBe(false);
    } finally {
      await taken.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("marks each data directory's dev server with its own namespace", () => {
    expect(devServerMarkerNamespace('/srv/a/.data')).toMatch(/^geo-inference-marker-[0-9a-f]{12}$/);
    expect(devServerMarkerNamespace('/srv/a/.data')).toBe(devServerMarkerNamespace('/srv/a/./.data'));
    expect(devServerMarkerNamespace('/srv/a/.data')).not.toBe(devServerMarkerNamespace('/srv/b/.data'));
  });
});
