import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './python';

/** Builds dist/ when it is missing or older than the sources, so a real worker process can be spawned. */
export function ensureBuilt(): void {
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'ensure-built.js')], {
    cwd: REPO_ROOT,
    stdio: 'inherit',
  });
  if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'src', 'worker.js')))
    throw new Error('dist/src/worker.js missing after build');
}

/** Starts `node dist/src/worker.js` as its own process (the production worker binary). */
export function spawnWorker(env: Record<string, string>, logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'src', 'worker.js')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  return child;
}

export async function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}
