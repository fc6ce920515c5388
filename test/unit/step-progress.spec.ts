import { StepProgressReporter, type StepProgressStore } from '../../activities/runtime/step-progress';
import { runAsGroupItem } from '../../activities/runtime/activity-context';
import type { StepProgress } from '../../workflows/contract/types';

/** The reporter's throttle, ETA and task id, with a recording store and Jest's fake clock. */
describe('StepProgressReporter', () => {
  let writes: Array<{ taskId: string; stepId: string; progress: StepProgress; at: number }>;
  let store: StepProgressStore;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    writes = [];
    store = {
      setStepProgress: async (taskId, stepId, progress) => {
        writes.push({ taskId, stepId, progress, at: Date.now() });
        return true;
      },
    };
  });

  afterEach(() => jest.useRealTimers());

  it('writes at most once per interval, then the latest count held back, and the last count at once', async () => {
    const reporter = new StepProgressReporter(store, 'task-1', 'model-inference', { intervalMs: 1000 });
    reporter.report({ done: 1, total: 10, unit: 'tiles' });
    for (let done = 2; done <= 5; done++) {
      jest.advanceTimersByTime(100);
      reporter.report({ done, total: 10, unit: 'tiles' });
    }
    await jest.advanceTimersByTimeAsync(0);
    expect(writes.map((write) => write.progress.done)).toEqual([1]);
    // The held-back count (5) is written when the interval has passed, without another report.
    await jest.advanceTimersByTimeAsync(600);
    expect(writes.map((write) => write.progress.done)).toEqual([1, 5]);
    expect(writes[1]!.at - 1_000_000).toBe(1000);
    jest.advanceTimersByTime(100);
    reporter.report({ done: 6, total: 10, unit: 'tiles' });
    // The last count (done = total) does not wait for the interval.
    reporter.report({ done: 10, total: 10, unit: 'tiles' });
    await reporter.flush();
    expect(writes.map((write) => write.progress.done)).toEqual([1, 5, 10]);
    expect(writes.at(-1)!.progress).toEqual({ done: 10, total: 10, unit: 'tiles', eta_seconds: 0 });
    // Nothing is left scheduled.
    await jest.advanceTimersByTimeAsync(5000);
    expect(writes).toHaveLength(3);
  });

  it('signals the workflow only once the step has run a signal interval, then per interval, and its last count', async () => {
    const signalled: Array<{ done: number; at: number }> = [];
    const signal = async (progress: StepProgress) =>
      signalled.push({ done: progress.done, at: Date.now() - 1_000_000 });
    const quick = new StepProgressReporter(store, 'task-1', 'model-inference', { signal, signalIntervalMs: 3000 });
    quick.report({ done: 0, total: 4, unit: 'tiles' });
    jest.advanceTimersByTime(1000);
    quick.report({ done: 4, total: 4, unit: 'tiles' });
    await quick.flush();
    expect(signalled).toEqual([]); // a short step adds nothing to the workflow's history

    const reporter = new StepProgressReporter(store, 'task-1', 'model-inference', { signal, signalIntervalMs: 3000 });
    for (let done = 0; done < 10; done++) {
      reporter.report({ done, total: 10, unit: 'tiles' });
      reporter.report({ done, total: 10, unit: 'tiles' }); // repeated counts (a waiting call) are not sent again
      await jest.advanceTimersByTimeAsync(1000);
    }
    reporter.report({ done: 10, total: 10, unit: 'tiles' });
    await reporter.flush();
    expect(signalled.map(({ done }) => done)).toEqual([3, 6, 9, 10]);
    expect(signalled.map(({ at }) => at)).toEqual([4000, 7000, 10000, 11000]);
  });

  it('keeps counting when a signal fails (the workflow ended, no client)', async () => {
    const reporter = new StepProgressReporter(store, 'task-1', 'model-inference', {
      intervalMs: 0,
      signalIntervalMs: 0,
      signal: () => Promise.reject(new Error('workflow execution already completed')),
    });
    reporter.report({ done: 1, total: 2, unit: 'tiles' });
    reporter.report({ done: 2, total: 2, unit: 'tiles' });
    await expect(reporter.flush()).resolves.toBeUndefined();
    expect(writes.map((write) => write.progress.done)).toEqual([1, 2]);
  });

  it('estimates the time left from the rate so far: null until known', async () => {
    const reporter = new StepProgressReporter(store, 'task-1', 'model-inference', { intervalMs: 0 });
    reporter.report({ done: 0, total: 100, unit: 'tiles' });
    jest.advanceTimersByTime(2000);
    reporter.report({ done: 20, total: 100, unit: 'tiles' }); // 10 tiles/s, 80 left
    reporter.report({ done: 50, total: null, unit: 'bytes' });
    await reporter.flush();
    expect(writes.map((write) => write.progress)).toEqual([
      { done: 0, total: 100, unit: 'tiles', eta_seconds: null },
      { done: 20, total: 100, unit: 'tiles', eta_seconds: 8 },
      { done: 50, total: null, unit: 'bytes', eta_seconds: null },
    ]);
  });

  it('does not rewrite a repeated count (waiting model calls repeat theirs) and flush writes the held-back one', async () => {
    const reporter = new StepProgressReporter(store, 'task-1', 'model-inference', { intervalMs: 1000 });
    reporter.report({ done: 3, total: 10, unit: 'tiles' });
    jest.advanceTimersByTime(2000);
    reporter.report({ done: 3, total: 10, unit: 'tiles' });
    jest.advanceTimersByTime(100);
    reporter.report({ done: 4, total: 10, unit: 'tiles' });
    jest.advanceTimersByTime(100);
    reporter.report({ done: 5, total: 10, unit: 'tiles' });
    await reporter.flush();
    expect(writes.map((write) => write.progress.done)).toEqual([3, 4, 5]);
  });

  it('keeps the step going when a write fails', async () => {
    let fail = true;
    const flaky: StepProgressStore = {
      setStepProgress: async (taskId, stepId, progress) => {
        if (fail) throw new Error('database is down');
        return store.setStepProgress(taskId, stepId, progress);
      },
    };
    const reporter = new StepProgressReporter(flaky, 'task-1', 'terrakit-data-fetch', { intervalMs: 0 });
    reporter.report({ done: 1, total: 2, unit: 'bytes' });
    await reporter.flush();
    fail = false;
    reporter.report({ done: 2, total: 2, unit: 'bytes' });
    await expect(reporter.flush()).resolves.toBeUndefined();
    expect(writes.map((write) => write.progress.done)).toEqual([2]);
  });

  it("heartbeats inside a grouped activity as the item's progress", async () => {
    const beats: unknown[] = [];
    const { stepProgress } = await import('../../activities/runtime/step-progress');
    const reporter = await runAsGroupItem(
      { taskId: 'item-task', heartbeat: (details) => beats.push(details) },
      async () =>
        stepProgress({ dataSource: {} as never, config: { STEP_PROGRESS_INTERVAL_MS: 1000 } }, 'model-inference', 'x'),
    );
    expect(reporter.taskId).toBe('item-task');
    await runAsGroupItem({ taskId: 'item-task', heartbeat: (details) => beats.push(details) }, async () => {
      const inGroup = new StepProgressReporter(store, 'item-task', 'model-inference');
      inGroup.report({ done: 1, total: 4, unit: 'tiles' }, { tiles_done: 1, tiles_total: 4 });
      await inGroup.flush();
    });
    expect(beats).toEqual([{ tiles_done: 1, tiles_total: 4 }]);
    expect(writes.map((write) => [write.taskId, write.stepId])).toEqual([['item-task', 'model-inference']]);
  });
});
