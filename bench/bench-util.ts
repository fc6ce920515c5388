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
  return execFileSync(PYTHON, args, { cwd: repoRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 });
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
