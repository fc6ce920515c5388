import { currentActivity } from './activity-context';

/**
 * The last heartbeat details a previous attempt of this step reported for `taskId`: the activity's own, or, in a
 * grouped activity, that task's entry of the group's progress (step-group.ts), so a scene resumes either way.
 */
export function previousStepHeartbeat(taskId: string): unknown {
  const details = currentActivity()?.info.heartbeatDetails as
    { running?: Record<string, unknown>; done?: unknown[] } | undefined;
  if (!details || typeof details !== 'object') return undefined;
  if (details.running && Array.isArray(details.done)) return details.running[taskId];
  return details;
}
