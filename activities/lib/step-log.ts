import { currentActivity } from './activity-context';
import type { ObjectStore } from '../../src/storage/object-store';
import { storageKeys } from './storage-keys';

/**
 * The log of one step of one task, kept in object storage and served by
 * GET /api/v2/tasks/{task_id}/logs/{step_id}. Each attempt appends its lines, so a retried step shows
 * what happened in every attempt.
 */
export class StepLog {
  private readonly lines: string[] = [];
  private readonly key: string;

  constructor(private readonly store: ObjectStore, inferenceId: string, taskId: string, stepId: string) {
    this.key = storageKeys.stepLog(inferenceId, taskId, stepId);
    this.info(`attempt ${currentActivity()?.info.attempt ?? 1} started`);
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

  /** Appends this attempt's lines to the stored log. Never throws: a log write must not fail a step. */
  async flush(): Promise<void> {
    try {
      const previous = (await this.store.exists(this.key)) ? (await this.store.getObject(this.key)).toString('utf8') : '';
      await this.store.putObject(this.key, Buffer.from(previous + this.lines.join('\n') + '\n'), { contentType: 'text/plain; charset=utf-8' });
    } catch {
      /* best effort */
    }
  }
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
