import { Context } from '@temporalio/activity';

/** The running activity's context, or undefined outside an activity (unit tests, scripts, benchmarks). */
export function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
