import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Repository root (works from bench/ under ts and from dist/bench/ after a build). */
export function repoRoot(): string {
  for (const start of [__dirname, process.cwd()]) {
    const found = findUp(start);
    if (found) return found;
  }
  throw new Error('cannot find the repository root (python/make_sample_geotiff.py): run from the repository');
}

function findUp(start: string): string | null {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'python', 'make_sample_geotiff.py'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
  return dir;
}

export const PYTHON = process.env.PYTHON_BIN || 'python3';

export function python(args: string[]): string {
  return execFileSync(PYTHON, args, {
    cwd: repoRoot(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Name and CPU seconds (user + system; with `children`, also of waited-for children) from a /proc stat file. */
function readProcStat(file: string, children: boolean): { name: string; seconds: number } | undefined {
  const ticksPerSecond = 100; // USER_HZ on Linux
  try {
    const stat = fs.readFileSync(file, 'utf8');
    const close = stat.lastIndexOf(')');
    // Fields 14-17 of stat (utime, stime, cutime, cstime), counted from the state field (3).
    const fields = stat
      .slice(close + 2)
      .split(' ')
      .map(Number);
    const ticks = fields[11]! + fields[12]! + (children ? fields[13]! + fields[14]! : 0);
    return { name: stat.slice(stat.indexOf('(') + 1, close), seconds: ticks / ticksPerSecond };
  } catch {
    return undefined; // the process or thread ended meanwhile
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** CPU seconds (user + system) used so far by the processes of each command name (Linux /proc; {} elsewhere). */
export function cpuSecondsByCommand(): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const pid of listDir('/proc').filter((entry) => /^\d+$/.test(entry))) {
    const stat = readProcStat(`/proc/${pid}/stat`, true);
    if (stat) totals[stat.name] = (totals[stat.name] ?? 0) + stat.seconds;
  }
  return totals;
}

/** CPU seconds per command between two cpuSecondsByCommand() readings, largest first, as "name 12.3 s". */
export function cpuDelta(before: Record<string, number>, after: Record<string, number>, minimum = 0.5): string {
  return Object.entries(after)
    .map(([command, seconds]) => [command, seconds - (before[command] ?? 0)] as const)
    .filter(([, seconds]) => seconds >= minimum)
    .sort((a, b) => b[1] - a[1])
    .map(([command, seconds]) => `${command} ${seconds.toFixed(1)} s`)
    .join(', ');
}

/** CPU seconds used so far by each thread of this process, by thread name (with BENCH_THREAD_IDS=1, name#tid). */
export function cpuSecondsByThread(): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const tid of listDir('/proc/self/task')) {
    const stat = readProcStat(`/proc/self/task/${tid}/stat`, false);
    if (!stat) continue;
    const label = process.env.BENCH_THREAD_IDS ? `${stat.name}#${tid}` : stat.name;
    totals[label] = (totals[label] ?? 0) + stat.seconds;
  }
  return totals;
}
