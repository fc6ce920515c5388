#!/usr/bin/env node
/**
 * Used by scripts/ready.sh (`npm start`, the demo, the benchmarks...) and the tests: builds (scripts/build.js)
 * only when dist/src/main.js is missing or older than any source file (src/, workflows/, activities/, scripts/,
 * bench/, web/, cli/, or the build configuration). Otherwise does nothing. Prints one line saying why when it builds.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const output = path.join(root, 'dist', 'src', 'main.js');
const sourceDirs = ['src', 'workflows', 'activities', 'scripts', 'bench', 'web', 'cli', 'test/support'];
const configFiles = ['tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'package.json'];

/** Newest mtime (ms) of the files under dir, or 0 when it does not exist. */
function newestMtime(dir) {
  let newest;
  let entries;
  try {
    newest = fs.statSync(dir).mtimeMs; // a deleted or renamed file changes the directory's mtime
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      newest = Math.max(newest, newestMtime(full));
    } else if (entry.isFile()) {
      newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  }
  return newest;
}

function staleReason() {
  let built;
  try {
    built = fs.statSync(output).mtimeMs;
  } catch {
    return `${path.relative(root, output)} is missing`;
  }
  if (!fs.existsSync(path.join(root, 'dist', 'console', 'index.html'))) return 'the web console is not built';
  for (const dir of sourceDirs) {
    if (newestMtime(path.join(root, dir)) > built) return `${dir}/ changed since the last build`;
  }
  for (const file of configFiles) {
    try {
      if (fs.statSync(path.join(root, file)).mtimeMs > built) return `${file} changed since the last build`;
    } catch {
      /* optional file */
    }
  }
  return undefined;
}

const reason = staleReason();
if (reason) {
  console.log(`[ensure-built] ${reason}: building`);
  const result = spawnSync(process.execPath, [path.join(__dirname, 'build.js')], { cwd: root, stdio: 'inherit' });
  if (result.error) {
    console.error(`[ensure-built] could not run scripts/build.js: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error(`[ensure-built] the build failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
  if (!fs.existsSync(output)) {
    console.error(`[ensure-built] the build finished but ${path.relative(root, output)} is missing`);
    process.exit(1);
  }
}
