import { currentActivity } from './activity-context';
import type { DataSource } from 'typeorm';
import { stepLogWriterFor } from '../../src/platform/database/step-logs';

/**
 * The log of one step of one task, served by GET /api/v2/tasks/{task_id}/logs/{step_id}. Each attempt
 * stores its own row in PostgreSQL (step_logs), so a retried step shows what happened in every attempt.
 */
export class StepLog {
  private readonly lines: string[] = [];
  private readonly attempt: number;
  private readonly startedAt = new Date();

  constructor(
    private readonly dataSource: DataSource,
    private readonly taskId: string,
    private readonly stepId: string,
  ) {
    this.attempt = currentActivity()?.info.attempt ?? 1;
    this.info(`attempt ${this.attempt} started`);
  }

  info(message: string): void {
    this.lines.push(`${new Date().toISOString()} INFO ${message}`);
  }

  warn(message: string): void {
    this.lines.push(`${new Date().toISOString()} WARN ${message}`);
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
      // PostgreSQL text cannot hold NUL characters (a script may print them).
      const text = (this.lines.join('\n') + '\n').replaceAll('\0', '\uFFFD');
      await stepLogWriterFor(this.dataSource).write({
        taskId: this.taskId,
        stepId: this.stepId,
        attempt: this.attempt,
        startedAt: this.startedAt,
        text,
      });
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
