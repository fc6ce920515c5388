/**
 * Jest setup for suites that run Temporal workers: only warnings and errors from the SDK's runtime, so
 * test output shows failures instead of every worker state change.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Already installed in this module registry.
}
