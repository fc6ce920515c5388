/**
 * How task and step states change, as pure functions over the states the workflow keeps (and the query
 * and the DB projection show). No Temporal here: the workflow decides when, these decide what.
 */
import type { GroupItemOutcome } from './contract/step-groups';
import type { StepId } from './contract/status';
import type {
  InferenceWorkflowState,
  PipelineStepState,
  StepProgressSignal,
  TaskPlan,
  TaskState,
} from './contract/types';

/** Workflow time (deterministic inside the workflow). */
export function now(): string {
  return new Date().toISOString();
}

/**
 * A task's state at the start of a run. A retry keeps FINISHED tasks as they are and reruns the others
 * from their first unfinished step; finished steps keep their results and outputs.
 */
export function initialTaskState(steps: StepId[], plan: TaskPlan, previous?: TaskState): TaskState {
  if (previous) {
    if (previous.status === 'FINISHED') return previous;
    return {
      ...previous,
      status: 'WAITING',
      message: undefined,
      pipeline_steps: previous.pipeline_steps.map((step) =>
        step.status === 'FINISHED'
          ? step
          : { process_id: step.process_id, step_number: step.step_number, status: 'WAITING' },
      ),
    };
  }
  return {
    task_id: plan.task_id,
    task_index: plan.task_index,
    status: 'WAITING',
    pipeline_steps: steps.map((processId, stepNumber) => ({
      process_id: processId,
      step_number: stepNumber,
      status: 'WAITING',
    })),
  };
}

/** The task is being worked on (its turn came, or its batch was handed to a child workflow). */
export function markTaskRunning(task: TaskState): void {
  task.status = 'RUNNING';
}

/** A step begins: RUNNING from now, without the message or count of an earlier run. */
export function markStepStarted(step: PipelineStepState, at: string = now()): void {
  step.status = 'RUNNING';
  step.started_at = at;
  step.message = undefined;
  step.progress = undefined;
}

/**
 * A running step's count, as it signalled it (STEP_PROGRESS_SIGNAL). Counts for a step that is not running
 * (it ended meanwhile, a late signal of an earlier attempt) or for tasks the workflow does not hold are ignored.
 */
export function applyStepProgress(tasks: TaskState[], update: StepProgressSignal): void {
  const task = tasks.find((candidate) => candidate.task_id === update.task_id);
  const step = task?.pipeline_steps.find((candidate) => candidate.process_id === update.step_id);
  if (!step || step.status !== 'RUNNING') return;
  const { done, total, unit, eta_seconds } = update.progress;
  step.progress = { done, total, unit, eta_seconds };
}

/** A step finished with the activity's summary. */
export function markStepFinished(step: PipelineStepState, result: Record<string, unknown>, at: string = now()): void {
  step.result = result;
  step.status = 'FINISHED';
  step.finished_at = at;
}

/** A step failed: so does its task, with the step named in the task's message. */
export function markStepFailed(task: TaskState, step: PipelineStepState, message: string, at: string = now()): void {
  step.status = 'FAILED';
  step.message = message;
  step.finished_at ??= at;
  task.status = 'FAILED';
  task.message = `${step.process_id}: ${message}`;
}

/**
 * A task's outcome of a grouped activity, with the times it reported. `output`: the result field holding
 * the raster handed to the next step.
 */
export function applyGroupOutcome(
  task: TaskState,
  step: PipelineStepState,
  outcome: GroupItemOutcome<Record<string, unknown>>,
  output: string | undefined,
): void {
  step.started_at = outcome.started_at;
  step.finished_at = outcome.finished_at;
  if (outcome.ok) {
    const handed = output === undefined ? undefined : outcome.result[output];
    if (typeof handed === 'string') task.current_key = handed;
    step.result = { ...outcome.result };
    step.status = 'FINISHED';
  } else {
    markStepFailed(task, step, outcome.message);
  }
}

/** Every step of the task ran: its last raster is its output. */
export function markTaskFinished(task: TaskState): void {
  task.status = 'FINISHED';
  task.output_key = task.current_key;
}

/** Marks the tasks still WAITING or RUNNING, and their unfinished steps, STOPPED; returns those tasks. */
export function markStopped(tasks: TaskState[], at: string = now()): TaskState[] {
  const stopped = tasks.filter((task) => task.status === 'WAITING' || task.status === 'RUNNING');
  for (const task of stopped) {
    for (const step of task.pipeline_steps) {
      if (step.status === 'WAITING' || step.status === 'RUNNING') {
        step.status = 'STOPPED';
        step.message = 'inference stopped';
        step.finished_at ??= at;
      }
    }
    task.status = 'STOPPED';
  }
  return stopped;
}

/** The inference's final status from its tasks: STOPPED when cancelled, FAILED when any task failed. */
export function settleInference(state: InferenceWorkflowState, cancelled: boolean): void {
  const failed = state.tasks.filter((task) => task.status === 'FAILED').length;
  state.status = cancelled ? 'STOPPED' : failed > 0 ? 'FAILED' : 'COMPLETED';
  if (failed > 0) state.message = `${failed} of ${state.tasks.length} tasks failed`;
}

/** Each task's outcome without its steps (those are in the DB projection), for results of many tasks. */
export function taskOutcomes(tasks: TaskState[]): TaskState[] {
  return tasks.map(({ task_id, task_index, status, output_key, message }) => ({
    task_id,
    task_index,
    status,
    output_key,
    message,
    pipeline_steps: [],
  }));
}
