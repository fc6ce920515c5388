/**
 * Part of `npm run build`: bundles workflows/ once into dist/workflow-bundle.js so worker processes start
 * without running webpack (and without its output in their logs). Workers fall back to bundling at start-up
 * when the file is missing (tests run from TypeScript sources).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowBundlePath, workflowsPath } from '../src/pipeline/worker';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath() });
  const target = workflowBundlePath();
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, code);
  console.log(`workflow bundle: ${path.relative(process.cwd(), target)} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
