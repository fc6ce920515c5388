import { ApplicationFailure } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor, ActivityExecuteInput, Next } from '@temporalio/worker';
import { StepFailure } from '../../workflows/contract/errors';

/** The Temporal failure of a domain StepFailure (same type, message, retry flag and cause); other errors as they are. */
export function toTemporalFailure(error: unknown): unknown {
  if (!(error instanceof StepFailure)) return error;
  return ApplicationFailure.create({
    message: error.message,
    type: error.type,
    nonRetryable: error.nonRetryable,
    cause: error.cause instanceof Error ? error.cause : undefined,
  });
}

/** Worker interceptor: what an activity throws reaches Temporal with the type and retry flag the domain code chose. */
export class StepFailureInterceptor implements ActivityInboundCallsInterceptor {
  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    try {
      return await next(input);
    } catch (error) {
      throw toTemporalFailure(error);
    }
  }
}
