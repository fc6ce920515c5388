import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

/**
 * The project's root (the folder with package.json above this file), so files next to the code (python/,
 * .venv/) are found the same way from the TypeScript sources (ts-jest) and from dist/ (built).
 */
export function repoRoot(): string {
  if (cached) return cached;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return (cached = dir);
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${__dirname}`);
  }
}

/** A path under the project's root. */
export function repoPath(...parts: string[]): string {
  return path.join(repoRoot(), ...parts);
}
