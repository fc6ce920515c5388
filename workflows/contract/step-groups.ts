/**
 * Results of grouped steps: one activity runs the same step for several tasks, and each task keeps its own
 * outcome (the workflow reads them; activities/runtime/step-group.ts produces them).
 */

/** One task's request inside a grouped activity. */
export interface GroupItem {
  taskId: string;
}

export interface GroupItemSuccess<T> {
  task_id: string;
  ok: true;
  result: T;
  started_at: string;
  finished_at: string;
}

export interface GroupItemFailure {
  task_id: string;
  ok: false;
  message: string;
  error_type?: string;
  /**
   * False when another attempt cannot help (bad input, model configuration): the task fails at once.
   * True: the workflow reruns this task alone with the step's full retry policy.
   */
  retryable: boolean;
  started_at: string;
  finished_at: string;
}

export type GroupItemOutcome<T> = GroupItemSuccess<T> | GroupItemFailure;

export interface GroupStepResult<T> {
  items: GroupItemOutcome<T>[];
}
