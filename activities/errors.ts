import { ApplicationFailure } from '@temporalio/activity';

/** Bad input found inside the pipeline: retrying cannot help, so the step fails at once with this message. */
export function invalidInput(message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'InvalidInputError', nonRetryable: true, cause: cause instanceof Error ? cause : undefined });
}

/** The model record or its spec cannot work with this input: not retryable either. */
export function modelConfigurationError(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'ModelConfigurationError', nonRetryable: true });
}
