/**
 * Runs the step plan of an inference over its tasks, step by step as STEPS (workflows/contract/steps.ts)
 * declares them: task by task (runTask), or a group of tasks at a time (runGroup), where steps with a
 * grouped form run as one activity per group and the others task by task.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import type { GroupItemOutcome, GroupStepResult } from './contract/step-groups';
import { stepDeclaration } from './contract/steps';
import { STEP_IDS, type StepId } from './contract/status';
import type { PipelineStepState, TaskBatchWorkflowInput, TaskPlan, TaskState } from './contract/types';
import { projectTask, projectTasks } from './projection';
import type { StepActivities } from './steps';
import {
  applyGroupOutcome,
  markStepFailed,
  markStepFinished,
  markStepStarted,
  markStopped,
  markTaskFinished,
  markTaskRunning,
  now,
} from './task-state';

/**
 * A finished step whose activity returned `warnings` (e.g. input guardrail violations) shows them as its message.
 * Only results that carry warnings reach the patch check, so histories without them replay unchanged.
 */
function showStepWarnings(step: PipelineStepState): void {
  const warnings = step.result?.warnings;
  if (step.status !== 'FINISHED' || !Array.isArray(warnings) || warnings.length === 0) return;
  if (patched('step-warnings-message')) step.message = warnings.map(String).join('; ');
}

/** What every task of an inference runs: its step plan and what the steps need besides each task's input. */
export type RunPlan = TaskBatchWorkflowInput['parent'];

export function failureMessage(error: unknown): string {
  let current: unknown = error;
  // An ActivityFailure wraps the ApplicationFailure thrown inside the activity: show the user that one.
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  if (current instanceof Error) return current.message || current.name;
  return String(error);
}

/** Runs a task's unfinished steps in order, projecting each change; stops at the first step that fails. */
export async function runTask(run: RunPlan, steps: StepActivities, plan: TaskPlan, task: TaskState): Promise<void> {
  markTaskRunning(task);
  for (const step of task.pipeline_steps) {
    if (step.status === 'FINISHED') continue;
    markStepStarted(step);
    await projectTask(run.inferenceId, task);
    let finished: boolean;
    try {
      finished = await runTaskStep(run, steps, plan, task, step);
    } catch (error) {
      // Only a cancellation gets here: a failed step is recorded on the step and the task.
      markStopped([task]);
      await CancellationScope.nonCancellable(() => projectTask(run.inferenceId, task));
      throw error;
    }
    if (!finished) {
      await projectTask(run.inferenceId, task);
      return;
    }
  }
  markTaskFinished(task);
  await projectTask(run.inferenceId, task);
}

/**
 * Runs one step of one task with the step's own retry policy; records FINISHED or FAILED (on the task too)
 * and says whether it finished. A cancellation is rethrown.
 */
async function runTaskStep(
  run: RunPlan,
  steps: StepActivities,
  plan: TaskPlan,
  task: TaskState,
  step: PipelineStepState,
): Promise<boolean> {
  step.status = 'RUNNING';
  try {
    markStepFinished(step, await runStep(step.process_id, run, steps, plan, task));
    showStepWarnings(step);
    return true;
  } catch (error) {
    step.finished_at = now();
    if (isCancellation(error)) throw error;
    markStepFailed(task, step, failureMessage(error));
    return false;
  }
}

/** The step's single activity for one task; the raster it produces becomes the task's current one. */
async function runStep(
  stepId: StepId,
  run: RunPlan,
  steps: StepActivities,
  plan: TaskPlan,
  task: TaskState,
): Promise<Record<string, unknown>> {
  const declaration = stepDeclaration(stepId);
  const activity = steps.single.get(stepId);
  if (!declaration || !activity)
    throw ApplicationFailure.create({
      message: `step ${stepId} is not available in this version`,
      type: 'ModelConfigurationError',
      nonRetryable: true,
    });
  const request = declaration.single.request({
    inferenceId: run.inferenceId,
    taskId: plan.task_id,
    workflowId: workflowInfo().workflowId,
    modelId: run.modelId,
    input: plan.input,
    processor: run.processor,
    inputKey: () => requireKey(task),
  });
  const result = await activity(request);
  if (declaration.output !== undefined) task.current_key = result[declaration.output] as string | undefined;
  return { ...result };
}

function requireKey(task: TaskState): string {
  if (!task.current_key)
    throw ApplicationFailure.create({ message: 'previous step produced no output', nonRetryable: true });
  return task.current_key;
}

/** Runs one group of tasks through the step plan; a task that fails a step leaves the group's later steps. */
export async function runGroup(
  run: RunPlan,
  steps: StepActivities,
  plans: TaskPlan[],
  tasks: TaskState[],
): Promise<void> {
  const planOf = new Map(plans.map((taskPlan) => [taskPlan.task_id, taskPlan]));
  for (const task of tasks) markTaskRunning(task);
  try {
    for (const [stepNumber, stepId] of run.steps.entries()) {
      const members = tasks.filter(
        (task) => task.status === 'RUNNING' && task.pipeline_steps[stepNumber].status !== 'FINISHED',
      );
      if (members.length === 0) continue;
      for (const task of members) markStepStarted(task.pipeline_steps[stepNumber]);
      // One write shows this step running and the outcome of the previous one for the whole group.
      await projectTasks(run.inferenceId, tasks);
      if (steps.grouped.has(stepId) && groupedInThisWorkflow(stepId)) {
        await runGroupedStep(run, steps, stepNumber, members, planOf, () => projectTasks(run.inferenceId, tasks));
      } else {
        await settleAll(
          members.map((task) =>
            runTaskStep(run, steps, planOf.get(task.task_id)!, task, task.pipeline_steps[stepNumber]),
          ),
        );
      }
    }
  } catch (error) {
    if (!isCancellation(error)) throw error;
    markStopped(tasks);
    await CancellationScope.nonCancellable(() => projectTasks(run.inferenceId, tasks));
    throw error;
  }
  for (const task of tasks) if (task.status === 'RUNNING') markTaskFinished(task);
  await projectTasks(run.inferenceId, tasks);
}

/** Whether a step with a grouped form runs grouped here: the processor step only in workflows since that patch. */
function groupedInThisWorkflow(stepId: StepId): boolean {
  return stepId !== STEP_IDS.genericProcessor || patched('grouped-processor-step');
}

/** Waits for every promise; then rethrows a cancellation (or another error) if one of them failed. */
export async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
  const cancelled = rejected.find((result) => isCancellation(result.reason));
  if (cancelled) throw cancelled.reason;
  if (rejected.length > 0) throw rejected[0].reason;
}

/**
 * Runs the members' step as grouped activities, split by the step's grouping rule; tasks whose outcome
 * may improve with retries then run it alone. `project` records progress when a part of the group ends early.
 */
async function runGroupedStep(
  run: RunPlan,
  steps: StepActivities,
  stepNumber: number,
  members: TaskState[],
  planOf: Map<string, TaskPlan>,
  project: () => Promise<void>,
): Promise<void> {
  const declaration = stepDeclaration(run.steps[stepNumber])!;
  const ready = members.filter((task) => declaration.reads === 'task-input' || task.current_key);
  // Only a broken plan leaves a task without the previous step's output; it fails like the task path does.
  for (const task of members.filter((member) => !ready.includes(member)))
    markStepFailed(task, task.pipeline_steps[stepNumber], 'previous step produced no output');
  if (ready.length === 0) return;
  const subgroups = declaration.grouped!.split(ready, {
    planOf: (taskId) => planOf.get(taskId)!,
    stepGroupValues: run.stepGroupValues,
  });
  await settleAll(
    subgroups.map(async (subgroup) => {
      await runStepSubgroup(run, steps, stepNumber, subgroup, planOf);
      if (subgroups.length > 1) await project();
    }),
  );
}

async function runStepSubgroup(
  run: RunPlan,
  steps: StepActivities,
  stepNumber: number,
  ready: TaskState[],
  planOf: Map<string, TaskPlan>,
): Promise<void> {
  const stepId = run.steps[stepNumber];
  const declaration = stepDeclaration(stepId)!;
  let outcomes: GroupItemOutcome<Record<string, unknown>>[] | undefined;
  try {
    const request = declaration.grouped!.request({
      inferenceId: run.inferenceId,
      workflowId: workflowInfo().workflowId,
      modelId: run.modelId,
      processor: run.processor,
      members: ready.map((task) => ({ plan: planOf.get(task.task_id)!, task })),
    });
    const result = (await steps.grouped.get(stepId)!(request)) as unknown as GroupStepResult<Record<string, unknown>>;
    outcomes = result.items;
  } catch (error) {
    if (isCancellation(error)) throw error;
    // The group failed as a whole (e.g. its worker kept dying): every member runs the step alone.
  }
  const outcomeOf = new Map((outcomes ?? []).map((outcome) => [outcome.task_id, outcome]));
  const alone: TaskState[] = [];
  for (const task of ready) {
    const outcome = outcomeOf.get(task.task_id);
    if (!outcome || (!outcome.ok && outcome.retryable)) {
      alone.push(task);
      continue;
    }
    applyGroupOutcome(task, task.pipeline_steps[stepNumber], outcome, declaration.output);
    showStepWarnings(task.pipeline_steps[stepNumber]);
  }
  await settleAll(
    alone.map((task) => runTaskStep(run, steps, planOf.get(task.task_id)!, task, task.pipeline_steps[stepNumber])),
  );
}
