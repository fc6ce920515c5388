import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities';
import {
  STEP_ACTIVITY_PRESETS,
  STEPS,
  type Step,
  type StepActivityName,
  type StepActivityPreset,
  type StepDeclaration,
  type StepRole,
  type WorkflowActivityName,
} from './contract/steps';
import type { StepId } from './contract/status';
import type { StepTaskQueues } from './contract/types';

/** A step activity as the interpreter calls it: request in, JSON summary (or grouped outcomes) out. */
export type StepActivity = (request: object) => Promise<Record<string, unknown>>;

/** The activity stubs of the steps, by step id: each step's single and (where it has one) grouped form. */
export interface StepActivities {
  single: Map<StepId, StepActivity>;
  grouped: Map<StepId, StepActivity>;
}

function stub(
  name: string,
  preset: StepActivityPreset,
  role: StepRole,
  queues: StepTaskQueues | undefined,
): StepActivity {
  // Steps of the workflows role run on the workflow's own task queue (no taskQueue option at all).
  const options: ActivityOptions =
    role === 'workflows'
      ? { ...STEP_ACTIVITY_PRESETS[preset] }
      : { taskQueue: queues?.[role], ...STEP_ACTIVITY_PRESETS[preset] };
  const activities = proxyActivities<Record<string, StepActivity>>(options);
  return activities[name];
}

/** Stubs of every step, each on its role's task queue when one is configured. */
export function stepActivities(queues: StepTaskQueues | undefined): StepActivities {
  const single = new Map<StepId, StepActivity>();
  const grouped = new Map<StepId, StepActivity>();
  for (const declaration of STEPS as readonly StepDeclaration[]) {
    single.set(declaration.id, stub(declaration.single.activity, declaration.single.options, declaration.role, queues));
    if (declaration.grouped)
      grouped.set(
        declaration.id,
        stub(declaration.grouped.activity, declaration.grouped.options, declaration.role, queues),
      );
  }
  return { single, grouped };
}

// Compile-time checks of the registry against the activities (the contract cannot import them).

type Activities = PipelineActivities;
type RequestOf<Name> = Name extends keyof Activities ? Parameters<Activities[Name]>[0] : never;
type ResultOf<Name> = Name extends keyof Activities ? Awaited<ReturnType<Activities[Name]>> : never;

/** The step's name when its single request or output field does not fit its activity. */
type SingleMisfit<S> = S extends {
  id: infer Id;
  single: { activity: infer Name; request: (context: never) => infer Request };
}
  ? Name extends keyof Activities
    ? Request extends RequestOf<Name>
      ? S extends { output: infer Field extends string }
        ? ResultOf<Name> extends Record<Field, string>
          ? never
          : Id
        : never
      : Id
    : Id
  : never;

/** The step's name when its grouped request does not fit, or its activity returns no per-task outcomes. */
type GroupedMisfit<S> = S extends {
  id: infer Id;
  grouped: { activity: infer Name; request: (context: never) => infer Request };
}
  ? Name extends keyof Activities
    ? Request extends RequestOf<Name>
      ? ResultOf<Name> extends { items: unknown[] }
        ? never
        : Id
      : Id
    : Id
  : never;

type Misfits = SingleMisfit<Step> | GroupedMisfit<Step>;
const everyRequestFits: [Misfits] extends [never] ? true : Misfits = true;
void everyRequestFits;

// Every activity is run by some worker role (src/pipeline/worker.ts derives them from the registry).
type Unassigned = Exclude<keyof Activities, StepActivityName | WorkflowActivityName>;
const everyActivityAssigned: [Unassigned] extends [never] ? true : Unassigned = true;
void everyActivityAssigned;
