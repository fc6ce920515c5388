/**
 * The pipeline steps, one declaration each: where a step runs, its activities and their options, how its
 * requests are built, what it hands to the next step, how it groups and when a plan has it. The workflow
 * (workflows/steps.ts, workflows/interpreter.ts), the worker roles (src/pipeline/worker.ts) and the API's
 * step plan (planSteps) are derived from STEPS. Plain data and pure functions: no @temporalio/workflow, so
 * every layer can import it.
 */
import { ActivityCancellationType, type ActivityOptions } from '@temporalio/common';
import { modelConfigurationError, NON_RETRYABLE_ERROR_TYPES } from './errors';
import { STEP_IDS, type StepId } from './status';
import type { ProcessorPlan, StepTaskQueues, TaskInput, TaskPlan, TaskState } from './types';

/** The worker role that runs a step's activities: a step kind with its own task queue, or the workflows' own. */
export type StepRole = keyof StepTaskQueues | 'workflows';

/**
 * Activity options of the steps (the task queue is added from the step's role). Grouped presets have few
 * attempts: a group that fails as a whole is not the end, each of its tasks then runs the step alone with
 * the step's full retry policy.
 */
/**
 * Every preset has a heartbeat timeout of at most 20 s: the worker heartbeats every running activity (keep-alive
 * in activities/runtime/infrastructure-retry.ts, besides the steps' progress), so when a worker dies its steps
 * are retried on another worker about 20 s later instead of at the start-to-close timeout. Start-to-close
 * timeouts then only bound a step that hangs on a live worker, and leave room for waiting out an outage.
 */
export const LOST_WORKER_HEARTBEAT_TIMEOUT = '20 seconds';

export const STEP_ACTIVITY_PRESETS = {
  // On stop, wait until running steps have really stopped (they notice through heartbeats), so no step
  // writes outputs after the inference reports STOPPED.
  fetch: {
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: LOST_WORKER_HEARTBEAT_TIMEOUT,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 5,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  },
  // Inference heartbeats per batch of tiles; a short heartbeat timeout lets a killed worker's attempt be
  // rescheduled on another worker within seconds instead of waiting for the start-to-close timeout.
  model: {
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
  },
  // The sandbox enforces the script's own time limit; heartbeats carry cancellation to the run.
  processor: {
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    startToCloseTimeout: '25 hours',
    heartbeatTimeout: LOST_WORKER_HEARTBEAT_TIMEOUT,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 3,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  },
  publish: {
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: LOST_WORKER_HEARTBEAT_TIMEOUT,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 6,
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  },
  fetchGroup: {
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: LOST_WORKER_HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 2 },
  },
  modelGroup: {
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    startToCloseTimeout: '8 hours',
    heartbeatTimeout: '15 seconds',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 2 },
  },
  // A lifecycle processor gets the whole group in one call of its warm process; scripts run a few at a time.
  processorGroup: {
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    startToCloseTimeout: '25 hours',
    heartbeatTimeout: LOST_WORKER_HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 2 },
  },
  publishGroup: {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: LOST_WORKER_HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 2 },
  },
} satisfies Record<string, Omit<ActivityOptions, 'taskQueue'>>;

export type StepActivityPreset = keyof typeof STEP_ACTIVITY_PRESETS;

/**
 * The exports after the steps (COCO, then STAC / vectors / previews): they heartbeat like the steps (the
 * polygonizer hands the event loop a turn every 20 ms of a sweep), so a lost worker's export moves on ~20 s
 * later. Only the timeouts differ from the old options, which replay does not compare: no `patched` needed.
 */
export const EXPORT_ACTIVITY_PRESET = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: LOST_WORKER_HEARTBEAT_TIMEOUT,
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
} satisfies Omit<ActivityOptions, 'taskQueue'>;

/** What a step's request is built from when it runs for one task. */
export interface StepRequestContext {
  inferenceId: string;
  taskId: string;
  workflowId: string;
  modelId: string;
  input: TaskInput;
  processor?: ProcessorPlan;
  /** The raster the previous step handed on; throws (failing the step) when there is none. */
  inputKey(): string;
}

/** A task in a grouped activity, with the raster it was handed (grouped steps only get tasks that have one). */
export interface GroupMember {
  plan: TaskPlan;
  task: TaskState;
}

/** What a grouped request is built from: one activity for several tasks of one inference. */
export interface GroupRequestContext {
  inferenceId: string;
  workflowId: string;
  modelId: string;
  processor?: ProcessorPlan;
  members: GroupMember[];
}

/** What a grouping rule may look at. */
export interface GroupSplitContext {
  planOf(taskId: string): TaskPlan;
  /** Model runs take tasks up to this many input values per activity (unset: no limit). */
  stepGroupValues?: number;
}

/** Splits the tasks of a group that run a grouped step into the activities that run it. */
export type GroupSplit = (tasks: TaskState[], context: GroupSplitContext) => TaskState[][];

/** Whether a plan has an optional step (the API's choices for the inference). */
export interface StepPlanOptions {
  genericProcessor: boolean;
}

export interface StepDeclaration {
  id: StepId;
  role: StepRole;
  /** 'previous-output': the step reads the raster the step before it handed on (grouped runs need one). */
  reads: 'task-input' | 'previous-output';
  /** Field of the activity's result holding the raster handed to the next step; none: it hands on its input. */
  output?: string;
  /** Optional steps are in a plan only when this says so, at their place in STEPS. */
  includeWhen?: (options: StepPlanOptions) => boolean;
  /** One activity per task. */
  single: { activity: string; options: StepActivityPreset; request: (context: StepRequestContext) => object };
  /** One activity per group of tasks (stepGroupSize > 1); steps without one run task by task inside groups. */
  grouped?: {
    activity: string;
    options: StepActivityPreset;
    split: GroupSplit;
    request: (context: GroupRequestContext) => object;
  };
}

/** Keeps the declaration's literal activity names, so the worker and the workflow can check them. */
function declareStep<const S extends StepDeclaration>(declaration: S): S {
  return declaration;
}

/** Tasks fetched together when their input is a download or a STAC chip (slow): their statuses show up sooner. */
const SLOW_FETCH_GROUP = 4;

/** Uploaded inputs (quick to read) in one activity; downloads and STAC chips a few at a time. */
export const splitByInputKind: GroupSplit = (tasks, { planOf }) => {
  const chunks: TaskState[][] = [];
  const uploaded = tasks.filter((task) => planOf(task.task_id).input.kind === 'object');
  const slow = tasks.filter((task) => planOf(task.task_id).input.kind !== 'object');
  if (uploaded.length > 0) chunks.push(uploaded);
  for (let start = 0; start < slow.length; start += SLOW_FETCH_GROUP)
    chunks.push(slow.slice(start, start + SLOW_FETCH_GROUP));
  return chunks;
};

/** Model runs up to a budget of input values (a group of large scenes would report nothing for hours). */
export const splitByInputValues: GroupSplit = (tasks, { stepGroupValues }) => {
  if (!stepGroupValues) return [tasks];
  const chunks: TaskState[][] = [];
  let chunk: TaskState[] = [];
  let pixels = 0;
  for (const task of tasks) {
    const size = inputValues(task) ?? 0;
    if (chunk.length > 0 && pixels + size > stepGroupValues) {
      chunks.push(chunk);
      chunk = [];
      pixels = 0;
    }
    chunk.push(task);
    pixels += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
};

/** The whole group in one activity. */
export const together: GroupSplit = (tasks) => [tasks];

/** width x height x bands of the task's input, from its data-fetch step result (undefined when unknown). */
export function inputValues(task: TaskState): number | undefined {
  const fetched = task.pipeline_steps.find((step) => step.process_id === STEP_IDS.dataFetch)?.result;
  const values = fetched ? Number(fetched.width) * Number(fetched.height) * Number(fetched.bands) : NaN;
  return Number.isFinite(values) ? values : undefined;
}

/** The pipeline steps in plan order. */
export const STEPS = [
  declareStep({
    id: STEP_IDS.dataFetch,
    role: 'fetch',
    reads: 'task-input',
    output: 'inputKey',
    single: {
      activity: 'fetchTaskInput',
      options: 'fetch',
      request: (c) => ({ inferenceId: c.inferenceId, taskId: c.taskId, workflowId: c.workflowId, input: c.input }),
    },
    grouped: {
      activity: 'fetchTaskInputs',
      options: 'fetchGroup',
      split: splitByInputKind,
      request: (c) => ({
        inferenceId: c.inferenceId,
        workflowId: c.workflowId,
        items: c.members.map(({ plan, task }) => ({ taskId: task.task_id, input: plan.input })),
      }),
    },
  }),
  declareStep({
    id: STEP_IDS.modelInference,
    role: 'model',
    reads: 'previous-output',
    output: 'outputKey',
    single: {
      activity: 'runModelInference',
      options: 'model',
      request: (c) => ({
        inferenceId: c.inferenceId,
        taskId: c.taskId,
        workflowId: c.workflowId,
        modelId: c.modelId,
        inputKey: c.inputKey(),
      }),
    },
    grouped: {
      activity: 'runModelInferences',
      options: 'modelGroup',
      split: splitByInputValues,
      request: (c) => ({
        inferenceId: c.inferenceId,
        workflowId: c.workflowId,
        modelId: c.modelId,
        items: c.members.map(({ task }) => {
          const values = inputValues(task);
          return {
            taskId: task.task_id,
            inputKey: task.current_key!,
            ...(values !== undefined ? { inputValues: values } : {}),
          };
        }),
      }),
    },
  }),
  // The user's processor runs on the model output, just before the push. Grouped in workflows that have the
  // `grouped-processor-step` patch (earlier ones ran it task by task inside the groups).
  declareStep({
    id: STEP_IDS.genericProcessor,
    role: 'processor',
    reads: 'previous-output',
    output: 'outputKey',
    includeWhen: (options) => options.genericProcessor,
    single: {
      activity: 'runGenericProcessor',
      options: 'processor',
      request: (c) => {
        if (!c.processor) throw modelConfigurationError('the step plan has a processor step but no processor');
        return {
          inferenceId: c.inferenceId,
          taskId: c.taskId,
          workflowId: c.workflowId,
          processor: c.processor,
          inputKey: c.inputKey(),
        };
      },
    },
    grouped: {
      activity: 'runGenericProcessors',
      options: 'processorGroup',
      split: together,
      request: (c) => {
        if (!c.processor) throw modelConfigurationError('the step plan has a processor step but no processor');
        return {
          inferenceId: c.inferenceId,
          workflowId: c.workflowId,
          processor: c.processor,
          items: c.members.map(({ task }) => ({ taskId: task.task_id, inputKey: task.current_key! })),
        };
      },
    },
  }),
  declareStep({
    id: STEP_IDS.pushToGeoserver,
    role: 'workflows',
    reads: 'previous-output',
    single: {
      activity: 'pushToGeoserver',
      options: 'publish',
      request: (c) => ({
        inferenceId: c.inferenceId,
        taskId: c.taskId,
        workflowId: c.workflowId,
        modelId: c.modelId,
        rasterKey: c.inputKey(),
      }),
    },
    grouped: {
      activity: 'pushToGeoservers',
      options: 'publishGroup',
      split: together,
      request: (c) => ({
        inferenceId: c.inferenceId,
        workflowId: c.workflowId,
        modelId: c.modelId,
        items: c.members.map(({ task }) => ({ taskId: task.task_id, rasterKey: task.current_key! })),
      }),
    },
  }),
] as const;

export type Step = (typeof STEPS)[number];
export type StepActivityName =
  Step['single']['activity'] | NonNullable<Extract<Step, { grouped: object }>['grouped']>['activity'];

// Every step id of the contract has a declaration.
type Undeclared = Exclude<StepId, Step['id']>;
const everyStepDeclared: [Undeclared] extends [never] ? true : Undeclared = true;
void everyStepDeclared;

/** The activities the workflow runs besides the steps (projection, webhook, exports), on its own worker. */
export const WORKFLOW_ACTIVITIES = [
  'recordTaskState',
  'recordTaskStates',
  'recordInferenceState',
  'deliverWebhook',
  'exportCoco',
  'exportResults',
] as const;
export type WorkflowActivityName = (typeof WORKFLOW_ACTIVITIES)[number];

const STEP_BY_ID = new Map<string, Step>(STEPS.map((declaration) => [declaration.id, declaration]));

/** The declaration of a step id; undefined for an id this version does not know (a plan from elsewhere). */
export function stepDeclaration(id: string): StepDeclaration | undefined {
  return STEP_BY_ID.get(id);
}

/** The step plan of an inference: every step, optional ones only when the options ask for them. */
export function planSteps(options: StepPlanOptions): StepId[] {
  return STEPS.filter((declaration) => !('includeWhen' in declaration) || declaration.includeWhen(options)).map(
    (declaration) => declaration.id,
  );
}

/** Which activities each worker role runs: each step's on its role, the workflow's own on `workflows`. */
export function activitiesByRole(): Record<StepRole, Array<StepActivityName | WorkflowActivityName>> {
  const roles: Record<StepRole, Array<StepActivityName | WorkflowActivityName>> = {
    workflows: [],
    fetch: [],
    model: [],
    processor: [],
  };
  for (const declaration of STEPS) {
    roles[declaration.role].push(declaration.single.activity);
    if ('grouped' in declaration) roles[declaration.role].push(declaration.grouped.activity);
  }
  roles.workflows.push(...WORKFLOW_ACTIVITIES);
  return roles;
}

/** The step of each step activity (both forms), e.g. for log lines. */
export const STEP_OF_ACTIVITY: Readonly<Record<StepActivityName, StepId>> = Object.fromEntries(
  STEPS.flatMap((declaration) => [
    [declaration.single.activity, declaration.id],
    ...('grouped' in declaration ? [[declaration.grouped.activity, declaration.id]] : []),
  ]),
) as Record<StepActivityName, StepId>;
