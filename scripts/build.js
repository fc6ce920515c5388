#!/usr/bin/env node
/**
 * `npm run build`: dist/ from the TypeScript sources, then the pre-bundled workflow code
 * (scripts/bundle-workflows.ts). Prints nothing unless a step fails, then that step's output.
 *
 * Each file is emitted on its own, without type checking (`npm run typecheck` and `npm run lint` check
 * types): the same emit as the tests' ts-jest (isolatedModules), and about a quarter of the CPU time of a
 * checked build, which is most of a first `npm start` or `npm run demo`.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');

function step(name, args) {
  const result = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  if (result.status === 0) return;
  process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
  console.error(`[build] ${name} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})`);
  process.exit(result.status || 1);
}

// A clean dist/: no output of a deleted or moved source file survives.
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
step('tsc', [
  require.resolve('typescript/bin/tsc'),
  '-p',
  'tsconfig.build.json',
  '--noCheck',
  '--noResolve',
  '--isolatedModules',
]);
step('workflow bundle', [path.join(root, 'dist', 'scripts', 'bundle-workflows.js')]);
step('web console', [path.join(root, 'dist', 'scripts', 'build-console.js')]);
