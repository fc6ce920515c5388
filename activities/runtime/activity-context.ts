import { AsyncLocalStorage } from 'node:async_hooks';
import { Context } from '@temporalio/activity';

/** The running activity's context, or undefined outside an activity (unit tests, scripts, benchmarks). */
export function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Where a step body's progress goes when it runs as one item of a grouped activity. */
export interface GroupItemScope {
  taskId: string;
  heartbeat(details: unknown): void;
}

const groupItemScope = new AsyncLocalStorage<GroupItemScope>();

/** Runs `body` as one task of a grouped activity: its heartbeats become that task's progress in the group's. */
export function runAsGroupItem<T>(scope: GroupItemScope, body: () => Promise<T>): Promise<T> {
  return groupItemScope.run(scope, body);
}

/** The task a step body runs for: the item's inside a grouped activity, else `fallback` (the request's). */
export function currentTaskId(fallback: string): string {
  return groupItemScope.getStore()?.taskId ?? fallback;
}

/**
 * Heartbeat of a step body. Alone, it is the activity's heartbeat; inside a grouped activity it only updates
 * this task's progress, so the group's heartbeat (which carries the finished tasks' results) is not overwritten.
 */
export function stepHeartbeat(details: unknown): void {
  const scope = groupItemScope.getStore();
  if (scope) scope.heartbeat(details);
  else currentActivity()?.heartbeat(details);
}
