/**
 * When tasks run: a few at a time in lanes (task by task), in groups of tasks, or in child workflows of a
 * batch of tasks each. Cancellation (a stop) ends the scheduling; unfinished tasks are marked STOPPED.
 */
import { CancellationScope, executeChild, isCancellation } from '@temporalio/workflow';
import {
  TASK_BATCH_WORKFLOW_TYPE,
  type InferenceWorkflowInput,
  type InferenceWorkflowState,
  type TaskBatchWorkflowInput,
  type TaskBatchWorkflowResult,
  type TaskPlan,
  type TaskState,
} from './contract/types';
import { runGroup, runTask, type RunPlan } from './interpreter';
import { projectTask, projectTasks } from './projection';
import { stepActivities } from './steps';
import { markStopped, markTaskRunning } from './task-state';

type TaskBatchWorkflow = (input: TaskBatchWorkflowInput) => Promise<TaskBatchWorkflowResult>;

/**
 * Runs tasks a few at a time (plan.taskConcurrency). On cancellation, unfinished tasks are marked STOPPED
 * and projected; returns whether the run was cancelled.
 */
export async function runTasks(plan: RunPlan, plans: TaskPlan[], states: TaskState[]): Promise<boolean> {
  if ((plan.stepGroupSize ?? 1) > 1 && plans.length > 1) return runTaskGroups(plan, plans, states, plan.stepGroupSize!);
  let cancellation: unknown;
  let nextTask = 0;
  const steps = stepActivities(plan.taskQueues);
  const runNextTasks = async (): Promise<void> => {
    while (nextTask < plans.length) {
      const index = nextTask;
      nextTask += 1;
      if (states[index].status === 'FINISHED') continue;
      try {
        await runTask(plan, steps, plans[index], states[index]);
      } catch (error) {
        if (!isCancellation(error)) throw error;
        cancellation = error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(plan.taskConcurrency, plans.length)) }, runNextTasks));
  const cancelled = cancellation !== undefined || CancellationScope.current().consideredCancelled;
  if (cancelled) await stopUnfinished(plan.inferenceId, states);
  return cancelled;
}

async function stopUnfinished(inferenceId: string, states: TaskState[]): Promise<void> {
  for (const task of markStopped(states)) await CancellationScope.nonCancellable(() => projectTask(inferenceId, task));
}

/**
 * Grouped execution: tasks go through the steps in groups of `groupSize`, one activity per group and step,
 * a few groups at a time (plan.taskConcurrency). Projection writes cover a whole group at once.
 */
async function runTaskGroups(
  plan: RunPlan,
  plans: TaskPlan[],
  states: TaskState[],
  groupSize: number,
): Promise<boolean> {
  const steps = stepActivities(plan.taskQueues);
  const unfinished = plans.map((_, index) => index).filter((index) => states[index].status !== 'FINISHED');
  const groups: number[][] = [];
  for (let start = 0; start < unfinished.length; start += groupSize)
    groups.push(unfinished.slice(start, start + groupSize));
  let nextGroup = 0;
  let cancellation: unknown;
  const runNextGroups = async (): Promise<void> => {
    // After a stop no new group starts; the ones left are marked STOPPED below.
    while (nextGroup < groups.length && !CancellationScope.current().consideredCancelled) {
      const group = groups[nextGroup];
      nextGroup += 1;
      try {
        await runGroup(
          plan,
          steps,
          group.map((index) => plans[index]),
          group.map((index) => states[index]),
        );
      } catch (error) {
        if (!isCancellation(error)) throw error;
        cancellation = error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(plan.taskConcurrency, groups.length)) }, runNextGroups));
  const cancelled = cancellation !== undefined || CancellationScope.current().consideredCancelled;
  if (cancelled) {
    const stopped = markStopped(states);
    await CancellationScope.nonCancellable(() => projectTasks(plan.inferenceId, stopped));
  }
  return cancelled;
}

/** Large inferences: one child workflow per batch of tasks, a few batches at a time. */
export async function runTaskBatches(
  input: InferenceWorkflowInput,
  state: InferenceWorkflowState,
  batchSize: number,
): Promise<boolean> {
  const { tasks, webhook: _webhook, resume, searchAttributes: _searchAttributes, ...parent } = input;
  const batches: TaskPlan[][] = [];
  for (let start = 0; start < tasks.length; start += batchSize) batches.push(tasks.slice(start, start + batchSize));
  let nextBatch = 0;
  let cancelled = false;
  const runNextBatches = async (): Promise<void> => {
    while (nextBatch < batches.length && !CancellationScope.current().consideredCancelled) {
      const index = nextBatch;
      nextBatch += 1;
      const batch = batches[index];
      // A retried batch whose tasks all finished before needs no child.
      if (batch.every((plan) => state.tasks[plan.task_index].status === 'FINISHED')) continue;
      for (const plan of batch)
        if (state.tasks[plan.task_index].status !== 'FINISHED') markTaskRunning(state.tasks[plan.task_index]);
      const result = await executeChild<TaskBatchWorkflow>(TASK_BATCH_WORKFLOW_TYPE, {
        workflowId: `${input.inferenceId}-batch-${String(index + 1).padStart(4, '0')}`,
        args: [
          { parent, tasks: batch, resume: resume ? batch.map((plan) => state.tasks[plan.task_index]) : undefined },
        ],
      });
      for (const task of result.tasks) state.tasks[task.task_index] = task;
      cancelled ||= result.cancelled;
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(input.batchConcurrency ?? 2, batches.length)) }, runNextBatches),
  );
  cancelled ||= CancellationScope.current().consideredCancelled;
  // Batches never started were never given to a child: the parent stops their tasks itself.
  if (cancelled)
    await stopUnfinished(
      input.inferenceId,
      state.tasks.filter((task) => task.status === 'WAITING'),
    );
  return cancelled;
}
