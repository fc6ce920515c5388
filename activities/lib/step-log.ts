import { currentActivity } from './activity-context';
import type { ObjectStore } from '../../src/storage/object-store';
import { storageKeys } from './storage-keys';

/**
 * The log of one step of one task, kept in object storage and served by
 * GET /api/v2/tasks/{task_id}/logs/{step_id}. Each attempt writes its own object, so a retried step shows
 * what happened in every attempt (readStepLog joins them in order).
 */
export class StepLog {
  private readonly lines: string[] = [];
  private readonly key: string;

  constructor(private readonly store: ObjectStore, inferenceId: string, taskId: string, stepId: string) {
    const attempt = currentActivity()?.info.attempt ?? 1;
    this.key = storageKeys.stepLogAttempt(inferenceId, taskId, stepId, Date.now(), attempt);
    this.info(`attempt ${attempt} started`);
  }

  info(message: string): void {
    this.lines.push(`${new Date().toISOString()} INFO ${message}`);
  }

  error(message: string): void {
    this.lines.push(`${new Date().toISOString()} ERROR ${message}`);
  }

  /** Output of a user's script, kept verbatim between markers. */
  output(text: string): void {
    this.lines.push('----- processor output (stdout and stderr) -----');
    if (text) this.lines.push(text.replace(/\n$/, ''));
    this.lines.push('----- end of processor output -----');
  }

  /** Stores this attempt's lines. Never throws: a log write must not fail a step. */
  async flush(): Promise<void> {
    try {
      await this.store.putObject(this.key, Buffer.from(this.lines.join('\n') + '\n'), { contentType: 'text/plain; charset=utf-8' });
    } catch {
      /* best effort */
    }
  }
}

/** The whole log of a step, every attempt in order; undefined when the step has not logged anything yet. */
export async function readStepLog(store: ObjectStore, inferenceId: string, taskId: string, stepId: string): Promise<string | undefined> {
  const legacyKey = storageKeys.legacyStepLog(inferenceId, taskId, stepId);
  const [legacy, attempts] = await Promise.all([store.exists(legacyKey), store.list(storageKeys.stepLogPrefix(inferenceId, taskId, stepId))]);
  if (!legacy && attempts.length === 0) return undefined;
  const parts = await Promise.all([...(legacy ? [legacyKey] : []), ...attempts.map((object) => object.key)].map((key) => store.getObject(key)));
  return parts.map((part) => part.toString('utf8')).join('');
}

/** Runs a step body with a log that is flushed whatever happens, recording the failure reason. */
export async function withStepLog<T>(log: StepLog, body: () => Promise<T>): Promise<T> {
  try {
    const result = await body();
    log.info('step finished');
    return result;
  } catch (error) {
    log.error(error instanceof Error ? error.message : String(error));
    throw error;
  } finally {
    await log.flush();
  }
}
