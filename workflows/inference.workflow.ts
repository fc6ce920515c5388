import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  defineQuery,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { INFERENCE_STATUS } from './contract/search-attributes';
import type { PipelineActivities } from '../activities';
import type { GroupItemOutcome, GroupStepResult } from './contract/step-groups';
import { NON_RETRYABLE_ERROR_TYPES } from './contract/errors';
import { STEP_IDS, type StepId } from './contract/status';
import { countTasks } from './contract/task-counts';
import {
  INFERENCE_STATUS_QUERY,
  type InferenceWorkflowInput,
  type InferenceWorkflowState,
  type StepTaskQueues,
  type TaskBatchWorkflowInput,
  type TaskBatchWorkflowResult,
  type TaskPlan,
  type TaskState,
  type WebhookPlan,
} from './contract/types';

type StepPlan = Omit<InferenceWorkflowInput, 'tasks' | 'webhook' | 'resume' | 'searchAttributes'>;

export const inferenceStatusQuery = defineQuery<InferenceWorkflowState>(INFERENCE_STATUS_QUERY);

/** Activity stubs of the pipeline steps, each on its step kind's task queue when one is configured. */
function stepActivities(queues: StepTaskQueues | undefined) {
  return {
    // On stop, wait until running steps have really stopped (they notice through heartbeats), so no step
    // writes outputs after the inference reports STOPPED.
    fetch: proxyActivities<PipelineActivities>({
      taskQueue: queues?.fetch,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      startToCloseTimeout: '30 minutes',
      heartbeatTimeout: '60 seconds',
      retry: {
        initialInterval: '2s',
        backoffCoefficient: 2,
        maximumInterval: '1 minute',
        maximumAttempts: 5,
        nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
      },
    }),
    // Inference heartbeats per batch of tiles; a short heartbeat timeout lets a killed worker's attempt be
    // rescheduled on another worker within seconds instead of waiting for the start-to-close timeout.
    model: proxyActivities<PipelineActivities>({
      taskQueue: queues?.model,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      startToCloseTimeout: '4 hours',
      heartbeatTimeout: '15 seconds',
      retry: {
        initialInterval: '1s',
        backoffCoefficient: 2,
        maximumInterval: '30 seconds',
        maximumAttempts: 4,
        nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
      },
    }),
    // The sandbox enforces the script's own time limit; heartbeats carry cancellation to the run.
    processor: proxyActivities<PipelineActivities>({
      taskQueue: queues?.processor,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      startToCloseTimeout: '25 hours',
      heartbeatTimeout: '30 seconds',
      retry: {
        initialInterval: '2s',
        backoffCoefficient: 2,
        maximumInterval: '1 minute',
        maximumAttempts: 3,
        nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
      },
    }),
    publish: proxyActivities<PipelineActivities>({
      startToCloseTimeout: '10 minutes',
      retry: {
        initialInterval: '2s',
        backoffCoefficient: 2,
        maximumInterval: '1 minute',
        maximumAttempts: 6,
        nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
      },
    }),
  };
}

/**
 * Stubs of the grouped steps (one activity per group of tasks). A group that fails as a whole (after these
 * few attempts) is not the end: each of its tasks then runs the step alone with the full retry policy.
 */
function groupedStepActivities(queues: StepTaskQueues | undefined) {
  return {
    fetch: proxyActivities<PipelineActivities>({
      taskQueue: queues?.fetch,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      startToCloseTimeout: '2 hours',
      heartbeatTimeout: '60 seconds',
      retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 2 },
    }),
    model: proxyActivities<PipelineActivities>({
      taskQueue: queues?.model,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      startToCloseTimeout: '8 hours',
      heartbeatTimeout: '15 seconds',
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 2 },
    }),
    publish: proxyActivities<PipelineActivities>({
      startToCloseTimeout: '1 hour',
      retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 2 },
    }),
  };
}

// Projection writes must eventually succeed (the REST API reads them), so they retry without limit.
const projectionActivities = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

// The same writes as local activities: run by the workflow's own worker inside the workflow task, without
// a round trip through the server for each (several per task). Workflows started before this change keep
// the activities (patched), so their histories replay.
const localProjectionActivities = proxyLocalActivities<PipelineActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

function projection(): typeof projectionActivities {
  return patched('local-projection') ? localProjectionActivities : projectionActivities;
}

function failureMessage(error: unknown): string {
  let current: unknown = error;
  // An ActivityFailure wraps the ApplicationFailure thrown inside the activity: show the user that one.
  while (current instanceof ActivityFailure && current.cause) current = current.cause;
  if (current instanceof Error) return current.message || current.name;
  return String(error);
}

function now(): string {
  return new Date().toISOString();
}

/**
 * One workflow per inference (workflow id = inference id). Each task runs the step plan in order; steps
 * pass object-storage keys. Live state is served by the `inferenceStatus` query and projected to the DB.
 */
export async function inferenceWorkflow(input: InferenceWorkflowInput): Promise<InferenceWorkflowState> {
  const state: InferenceWorkflowState = {
    inference_id: input.inferenceId,
    status: 'RUNNING',
    tasks: input.tasks.map((plan) => initialTaskState(input.steps, plan, input.resume?.[plan.task_index])),
  };
  setHandler(inferenceStatusQuery, () => state);

  await projection().recordInferenceState({ inferenceId: input.inferenceId, status: 'RUNNING', startedAt: now() });
  if (input.searchAttributes) upsertSearchAttributes([{ key: INFERENCE_STATUS, value: 'RUNNING' }]);

  const batchSize = input.batchSize ?? DEFAULT_BATCH_SIZE;
  const cancelled =
    input.tasks.length <= batchSize
      ? await runTasks(input, input.tasks, state.tasks)
      : await runTaskBatches(input, state, batchSize);
  // COCO export of the finished masks, before the final status so COMPLETED means the export exists.
  if (!cancelled && patched('coco-export')) state.coco = await exportCoco(input);
  const failed = state.tasks.filter((task) => task.status === 'FAILED').length;
  state.status = cancelled ? 'STOPPED' : failed > 0 ? 'FAILED' : 'COMPLETED';
  if (failed > 0) state.message = `${failed} of ${state.tasks.length} tasks failed`;
  await CancellationScope.nonCancellable(() =>
    projection().recordInferenceState({
      inferenceId: input.inferenceId,
      status: state.status,
      message: state.message,
      finishedAt: now(),
    }),
  );
  if (input.searchAttributes) upsertSearchAttributes([{ key: INFERENCE_STATUS, value: state.status }]);
  // Stopped inferences notify too, so the webhook runs outside the cancelled scope.
  if (input.webhook) await CancellationScope.nonCancellable(() => notifyWebhook(input, input.webhook!, state));
  // Closing as cancelled (not completed) is what the Web UI and the history show for a stopped inference.
  if (cancelled) throw new CancelledFailure('inference stopped');
  // A batched inference's steps are in the DB projection; its result keeps each task's outcome only, so
  // thousands of tasks stay far below the 2 MB payload limit.
  if (input.tasks.length > batchSize) {
    return {
      ...state,
      tasks: state.tasks.map(({ task_id, task_index, status, output_key, message }) => ({
        task_id,
        task_index,
        status,
        output_key,
        message,
        pipeline_steps: [],
      })),
    };
  }
  return state;
}

/**
 * A failed export is reported on the state (and the webhook); it never changes the inference's status. It
 * starts only when every task has ended, so a stop arriving meanwhile lets it finish (non-cancellable).
 */
async function exportCoco(input: InferenceWorkflowInput): Promise<InferenceWorkflowState['coco']> {
  const { exportCoco: run } = proxyActivities<PipelineActivities>({
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '2 minutes',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 5,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  });
  try {
    const result = await CancellationScope.nonCancellable(() =>
      run({ inferenceId: input.inferenceId, modelId: input.modelId }),
    );
    return { key: result.cocoKey, annotations: result.annotations };
  } catch (error) {
    return { error: failureMessage(error) };
  }
}

/** Inferences above this many tasks run them in child workflows, keeping every history far below its limits. */
const DEFAULT_BATCH_SIZE = 100;

/**
 * Runs tasks a few at a time (plan.taskConcurrency). On cancellation, unfinished tasks are marked STOPPED
 * and projected; returns whether the run was cancelled.
 */
async function runTasks(plan: StepPlan, plans: TaskPlan[], states: TaskState[]): Promise<boolean> {
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

/** Marks the tasks still WAITING or RUNNING, and their unfinished steps, STOPPED; returns those tasks. */
function markStopped(tasks: TaskState[]): TaskState[] {
  const stopped = tasks.filter((task) => task.status === 'WAITING' || task.status === 'RUNNING');
  for (const task of stopped) {
    markUnfinishedSteps(task, 'STOPPED', 'inference stopped');
    task.status = 'STOPPED';
  }
  return stopped;
}

/** Steps that run as one activity per group of tasks; the others (the user's processor) run task by task. */
const GROUPED_STEPS = new Set<StepId>([STEP_IDS.dataFetch, STEP_IDS.modelInference, STEP_IDS.pushToGeoserver]);

/**
 * Grouped execution: tasks go through the steps in groups of `groupSize`, one activity per group and step,
 * a few groups at a time (plan.taskConcurrency). Projection writes cover a whole group at once.
 */
async function runTaskGroups(
  plan: StepPlan,
  plans: TaskPlan[],
  states: TaskState[],
  groupSize: number,
): Promise<boolean> {
  const steps = stepActivities(plan.taskQueues);
  const grouped = groupedStepActivities(plan.taskQueues);
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
          grouped,
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

/** Runs one group of tasks through the step plan; a task that fails a step leaves the group's later steps. */
async function runGroup(
  plan: StepPlan,
  steps: ReturnType<typeof stepActivities>,
  grouped: ReturnType<typeof groupedStepActivities>,
  plans: TaskPlan[],
  tasks: TaskState[],
): Promise<void> {
  const planOf = new Map(plans.map((taskPlan) => [taskPlan.task_id, taskPlan]));
  for (const task of tasks) task.status = 'RUNNING';
  try {
    for (const [stepNumber, stepId] of plan.steps.entries()) {
      const members = tasks.filter(
        (task) => task.status === 'RUNNING' && task.pipeline_steps[stepNumber].status !== 'FINISHED',
      );
      if (members.length === 0) continue;
      for (const task of members) {
        const step = task.pipeline_steps[stepNumber];
        step.status = 'RUNNING';
        step.started_at = now();
        step.message = undefined;
      }
      // One write shows this step running and the outcome of the previous one for the whole group.
      await projectTasks(plan.inferenceId, tasks);
      if (GROUPED_STEPS.has(stepId)) {
        await runGroupedStep(plan, steps, grouped, stepNumber, members, planOf, () =>
          projectTasks(plan.inferenceId, tasks),
        );
      } else {
        await settleAll(
          members.map((task) =>
            runTaskStep(plan, steps, planOf.get(task.task_id)!, task, task.pipeline_steps[stepNumber]),
          ),
        );
      }
    }
  } catch (error) {
    if (!isCancellation(error)) throw error;
    markStopped(tasks);
    await CancellationScope.nonCancellable(() => projectTasks(plan.inferenceId, tasks));
    throw error;
  }
  for (const task of tasks) {
    if (task.status !== 'RUNNING') continue;
    task.status = 'FINISHED';
    task.output_key = task.current_key;
  }
  await projectTasks(plan.inferenceId, tasks);
}

/** Waits for every promise; then rethrows a cancellation (or another error) if one of them failed. */
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
  const cancelled = rejected.find((result) => isCancellation(result.reason));
  if (cancelled) throw cancelled.reason;
  if (rejected.length > 0) throw rejected[0].reason;
}

/** Tasks fetched together when their input is a download or a STAC chip (slow): their statuses show up sooner. */
const SLOW_FETCH_GROUP = 4;

/**
 * Splits the members of a grouped step into the activities that run it: downloads and STAC chips a few at
 * a time, model runs up to a budget of input values (a group of large scenes would report nothing for hours).
 */
function stepSubgroups(
  plan: StepPlan,
  stepId: StepId,
  tasks: TaskState[],
  planOf: Map<string, TaskPlan>,
): TaskState[][] {
  const chunks: TaskState[][] = [];
  if (stepId === STEP_IDS.dataFetch) {
    const uploaded = tasks.filter((task) => planOf.get(task.task_id)!.input.kind === 'object');
    const slow = tasks.filter((task) => planOf.get(task.task_id)!.input.kind !== 'object');
    if (uploaded.length > 0) chunks.push(uploaded);
    for (let start = 0; start < slow.length; start += SLOW_FETCH_GROUP)
      chunks.push(slow.slice(start, start + SLOW_FETCH_GROUP));
    return chunks;
  }
  if (stepId === STEP_IDS.modelInference && plan.stepGroupValues) {
    let chunk: TaskState[] = [];
    let pixels = 0;
    for (const task of tasks) {
      const size = inputValues(task) ?? 0;
      if (chunk.length > 0 && pixels + size > plan.stepGroupValues) {
        chunks.push(chunk);
        chunk = [];
        pixels = 0;
      }
      chunk.push(task);
      pixels += size;
    }
    if (chunk.length > 0) chunks.push(chunk);
    return chunks;
  }
  return [tasks];
}

/** width x height x bands of the task's input, from its data-fetch step result (undefined when unknown). */
function inputValues(task: TaskState): number | undefined {
  const fetched = task.pipeline_steps.find((step) => step.process_id === STEP_IDS.dataFetch)?.result;
  const values = fetched ? Number(fetched.width) * Number(fetched.height) * Number(fetched.bands) : NaN;
  return Number.isFinite(values) ? values : undefined;
}

/**
 * Runs the members' step as grouped activities (see stepSubgroups); tasks whose outcome may improve with
 * retries then run it alone. `project` records progress when a part of the group finishes early.
 */
async function runGroupedStep(
  plan: StepPlan,
  steps: ReturnType<typeof stepActivities>,
  grouped: ReturnType<typeof groupedStepActivities>,
  stepNumber: number,
  members: TaskState[],
  planOf: Map<string, TaskPlan>,
  project: () => Promise<void>,
): Promise<void> {
  const stepId = plan.steps[stepNumber];
  const ready = members.filter((task) => stepId === STEP_IDS.dataFetch || task.current_key);
  // Only a broken plan leaves a task without the previous step's output; it fails like the task path does.
  for (const task of members.filter((member) => !ready.includes(member)))
    failStep(task, task.pipeline_steps[stepNumber], 'previous step produced no output');
  if (ready.length === 0) return;
  const subgroups = stepSubgroups(plan, stepId, ready, planOf);
  await settleAll(
    subgroups.map(async (subgroup) => {
      await runStepSubgroup(plan, steps, grouped, stepNumber, subgroup, planOf);
      if (subgroups.length > 1) await project();
    }),
  );
}

async function runStepSubgroup(
  plan: StepPlan,
  steps: ReturnType<typeof stepActivities>,
  grouped: ReturnType<typeof groupedStepActivities>,
  stepNumber: number,
  ready: TaskState[],
  planOf: Map<string, TaskPlan>,
): Promise<void> {
  const stepId = plan.steps[stepNumber];
  const base = { inferenceId: plan.inferenceId, workflowId: workflowInfo().workflowId };
  let outcomes: GroupItemOutcome<Record<string, unknown>>[] | undefined;
  try {
    let result: GroupStepResult<object>;
    if (stepId === STEP_IDS.dataFetch) {
      result = await grouped.fetch.fetchTaskInputs({
        ...base,
        items: ready.map((task) => ({ taskId: task.task_id, input: planOf.get(task.task_id)!.input })),
      });
    } else if (stepId === STEP_IDS.modelInference) {
      const items = ready.map((task) => {
        const values = inputValues(task);
        return {
          taskId: task.task_id,
          inputKey: task.current_key!,
          ...(values !== undefined ? { inputValues: values } : {}),
        };
      });
      result = await grouped.model.runModelInferences({ ...base, modelId: plan.modelId, items });
    } else {
      result = await grouped.publish.pushToGeoservers({
        ...base,
        modelId: plan.modelId,
        items: ready.map((task) => ({ taskId: task.task_id, rasterKey: task.current_key! })),
      });
    }
    outcomes = result.items as GroupItemOutcome<Record<string, unknown>>[];
  } catch (error) {
    if (isCancellation(error)) throw error;
    // The group failed as a whole (e.g. its worker kept dying): every member runs the step alone.
  }
  const outcomeOf = new Map((outcomes ?? []).map((outcome) => [outcome.task_id, outcome]));
  const alone: TaskState[] = [];
  for (const task of ready) {
    const step = task.pipeline_steps[stepNumber];
    const outcome = outcomeOf.get(task.task_id);
    if (!outcome || (!outcome.ok && outcome.retryable)) {
      alone.push(task);
      continue;
    }
    step.started_at = outcome.started_at;
    step.finished_at = outcome.finished_at;
    if (outcome.ok) {
      applyStepOutput(stepId, task, outcome.result);
      step.result = { ...outcome.result };
      step.status = 'FINISHED';
    } else {
      failStep(task, step, outcome.message);
    }
  }
  await settleAll(
    alone.map((task) => runTaskStep(plan, steps, planOf.get(task.task_id)!, task, task.pipeline_steps[stepNumber])),
  );
}

/**
 * Runs one step of one task with the step's own retry policy; records FINISHED or FAILED (on the task too)
 * and says whether it finished. A cancellation is rethrown.
 */
async function runTaskStep(
  plan: StepPlan,
  steps: ReturnType<typeof stepActivities>,
  taskPlan: TaskPlan,
  task: TaskState,
  step: TaskState['pipeline_steps'][number],
): Promise<boolean> {
  step.status = 'RUNNING';
  try {
    step.result = await runStep(step.process_id, plan, steps, taskPlan, task);
    step.status = 'FINISHED';
    step.finished_at = now();
    return true;
  } catch (error) {
    step.finished_at = now();
    if (isCancellation(error)) throw error;
    failStep(task, step, failureMessage(error));
    return false;
  }
}

function failStep(task: TaskState, step: TaskState['pipeline_steps'][number], message: string): void {
  step.status = 'FAILED';
  step.message = message;
  step.finished_at ??= now();
  task.status = 'FAILED';
  task.message = `${step.process_id}: ${message}`;
}

/** The raster a finished step hands to the next one. */
function applyStepOutput(stepId: StepId, task: TaskState, result: Record<string, unknown>): void {
  if (stepId === STEP_IDS.dataFetch && typeof result.inputKey === 'string') task.current_key = result.inputKey;
  if (stepId === STEP_IDS.modelInference && typeof result.outputKey === 'string') task.current_key = result.outputKey;
}

async function projectTasks(inferenceId: string, tasks: TaskState[]): Promise<void> {
  if (tasks.length > 0) await projection().recordTaskStates({ inferenceId, tasks });
}

/** Large inferences: one child workflow per batch of tasks, a few batches at a time. */
async function runTaskBatches(
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
        if (state.tasks[plan.task_index].status !== 'FINISHED') state.tasks[plan.task_index].status = 'RUNNING';
      const result = await executeChild(inferenceTaskBatchWorkflow, {
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

/**
 * Child workflow: runs one batch of an inference's tasks (step status goes to the DB projection as it
 * changes). A stop reaches it as cancellation; it then returns its STOPPED tasks rather than failing.
 */
export async function inferenceTaskBatchWorkflow(input: TaskBatchWorkflowInput): Promise<TaskBatchWorkflowResult> {
  const states = input.tasks.map((plan, index) => initialTaskState(input.parent.steps, plan, input.resume?.[index]));
  const cancelled = await runTasks(input.parent, input.tasks, states);
  return { tasks: states, cancelled };
}

function initialTaskState(steps: StepId[], plan: TaskPlan, previous?: TaskState): TaskState {
  if (previous) {
    if (previous.status === 'FINISHED') return previous;
    // Rerun from the first step that did not finish; finished steps keep their results and outputs.
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

/** Sends the final summary to the inference's webhook; a failed delivery never changes the inference status. */
async function notifyWebhook(
  input: InferenceWorkflowInput,
  plan: WebhookPlan,
  state: InferenceWorkflowState,
): Promise<void> {
  const webhookActivities = proxyActivities<PipelineActivities>({
    startToCloseTimeout: '2 minutes',
    retry: {
      initialInterval: plan.initialIntervalSeconds * 1000,
      backoffCoefficient: 2,
      maximumInterval: plan.maximumIntervalSeconds * 1000,
      maximumAttempts: plan.maximumAttempts,
      nonRetryableErrorTypes: ['WebhookRejected'],
    },
  });
  const api = plan.apiBaseUrl;
  const inferenceUrl = `${api}/api/v2/inference/${input.inferenceId}`;
  const event = {
    type: `inference.${state.status.toLowerCase()}` as 'inference.completed' | 'inference.failed' | 'inference.stopped',
    timestamp: now(),
    data: {
      inference_id: input.inferenceId,
      status: state.status,
      message: state.message ?? null,
      ...countTasks(state.tasks.map((task) => task.status)),
      tasks: state.tasks.map((task) => ({
        task_id: task.task_id,
        status: task.status,
        message: task.message ?? null,
        output_url: task.output_key ? `${api}/api/v2/tasks/${task.task_id}/output-url` : null,
      })),
      coco_url: state.coco?.key ? `${inferenceUrl}/coco` : null,
      links: {
        inference: inferenceUrl,
        tasks: `${inferenceUrl}/tasks`,
        temporal_ui: `${plan.temporalUiUrl}/namespaces/${workflowInfo().namespace}/workflows/${input.inferenceId}`,
      },
    },
  };
  state.webhook = { status: 'SENDING' };
  try {
    // The run id keeps the id stable across retries of this delivery but new for a reset or rerun.
    const result = await webhookActivities.deliverWebhook({
      inferenceId: input.inferenceId,
      webhookId: `msg_${workflowInfo().runId}`,
      event,
    });
    state.webhook = result.delivered ? { status: 'DELIVERED' } : { status: 'SKIPPED', message: result.skipped };
  } catch (error) {
    state.webhook = { status: 'FAILED', message: failureMessage(error) };
  }
}

function markUnfinishedSteps(task: TaskState, status: 'STOPPED', message: string): void {
  for (const step of task.pipeline_steps) {
    if (step.status === 'WAITING' || step.status === 'RUNNING') {
      step.status = status;
      step.message = message;
      step.finished_at ??= now();
    }
  }
}

async function projectTask(inferenceId: string, task: TaskState): Promise<void> {
  await projection().recordTaskState({ inferenceId, task });
}

async function runTask(
  input: StepPlan,
  steps: ReturnType<typeof stepActivities>,
  plan: TaskPlan,
  task: TaskState,
): Promise<void> {
  task.status = 'RUNNING';
  for (const step of task.pipeline_steps) {
    if (step.status === 'FINISHED') continue;
    step.status = 'RUNNING';
    step.started_at = now();
    step.message = undefined;
    await projectTask(input.inferenceId, task);
    let finished: boolean;
    try {
      finished = await runTaskStep(input, steps, plan, task, step);
    } catch (error) {
      // Only a cancellation gets here: a failed step is recorded on the step and the task.
      markStopped([task]);
      await CancellationScope.nonCancellable(() => projectTask(input.inferenceId, task));
      throw error;
    }
    if (!finished) {
      await projectTask(input.inferenceId, task);
      return;
    }
  }
  task.status = 'FINISHED';
  task.output_key = task.current_key;
  await projectTask(input.inferenceId, task);
}

async function runStep(
  stepId: StepId,
  input: StepPlan,
  steps: ReturnType<typeof stepActivities>,
  plan: TaskPlan,
  task: TaskState,
): Promise<Record<string, unknown>> {
  const base = { inferenceId: input.inferenceId, taskId: plan.task_id, workflowId: workflowInfo().workflowId };
  switch (stepId) {
    case STEP_IDS.dataFetch: {
      const result = await steps.fetch.fetchTaskInput({ ...base, input: plan.input });
      task.current_key = result.inputKey;
      return { ...result };
    }
    case STEP_IDS.modelInference: {
      const result = await steps.model.runModelInference({
        ...base,
        modelId: input.modelId,
        inputKey: requireKey(task),
      });
      task.current_key = result.outputKey;
      return { ...result };
    }
    case STEP_IDS.genericProcessor: {
      if (!input.processor)
        throw ApplicationFailure.create({
          message: 'the step plan has a processor step but no processor',
          type: 'ModelConfigurationError',
          nonRetryable: true,
        });
      const result = await steps.processor.runGenericProcessor({
        ...base,
        processor: input.processor,
        inputKey: requireKey(task),
      });
      task.current_key = result.outputKey;
      return { ...result };
    }
    case STEP_IDS.pushToGeoserver: {
      const result = await steps.publish.pushToGeoserver({
        ...base,
        modelId: input.modelId,
        rasterKey: requireKey(task),
      });
      return { ...result };
    }
    default:
      throw ApplicationFailure.create({
        message: `step ${stepId} is not available in this version`,
        type: 'ModelConfigurationError',
        nonRetryable: true,
      });
  }
}

function requireKey(task: TaskState): string {
  if (!task.current_key)
    throw ApplicationFailure.create({ message: 'previous step produced no output', nonRetryable: true });
  return task.current_key;
}
