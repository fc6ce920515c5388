/**
 * Part of `npm run build`: bundles workflows/ once into dist/workflow-bundle.js so worker processes start
 * without running webpack (and without its output in their logs). Workers fall back to bundling at start-up
 * when the file is missing (tests run from TypeScript sources). Silent unless webpack reports a problem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { workflowBundlePath, workflowsPath } from '../src/pipeline/worker';

async function main(): Promise<void> {
  // WARN: webpack's module statistics are logged at INFO, its errors (with the statistics) at ERROR.
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') });
  const target = workflowBundlePath();
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, code);
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
