import * as fs from 'node:fs';
import { repoPath } from './repo-root';

let cached: string | undefined;

/** `geo-inference <version>` from package.json (provenance of outputs: which code wrote them). */
export function codeVersion(): string {
  if (cached) return cached;
  const manifest = JSON.parse(fs.readFileSync(repoPath('package.json'), 'utf8')) as { name: string; version: string };
  return (cached = `${manifest.name} ${manifest.version}`);
}
