import { proxyActivities } from '@temporalio/workflow';

export interface RepeatedModelStepActivities {
  segmentSample(seed: number): Promise<{ tiles: number; heartbeats: number }>;
}

// A heartbeat timeout far shorter than one step: each step lives only while its own heartbeats arrive.
const { segmentSample } = proxyActivities<RepeatedModelStepActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '4 seconds',
  retry: { maximumAttempts: 1 },
});

/** Model steps one after another in the same worker (tests: heartbeats of the model thread). */
export async function repeatedModelSteps(count: number): Promise<Array<{ tiles: number; heartbeats: number }>> {
  const results = [];
  for (let seed = 1; seed <= count; seed++) results.push(await segmentSample(seed));
  return results;
}
