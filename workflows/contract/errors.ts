/**
 * Failure types no retry can fix: bad input, a model or processor that cannot work. The workflow's retry
 * policies list them as non-retryable, and grouped steps fail such a task at once instead of rerunning it.
 */
export const NON_RETRYABLE_ERROR_TYPES = ['InvalidInputError', 'ModelConfigurationError', 'ProcessorError'];

/**
 * A step failure with a type and a retry decision, thrown by domain code that knows nothing of Temporal. The
 * activity layer turns it into an ApplicationFailure of the same type, message and retry flag.
 */
export class StepFailure extends Error {
  readonly type: string;
  readonly nonRetryable: boolean;

  constructor(message: string, options: { type: string; nonRetryable?: boolean; cause?: unknown }) {
    super(message, options.cause instanceof Error ? { cause: options.cause } : undefined);
    // Without the adapter (a bare worker) Temporal reports error.name as the failure type.
    this.name = options.type;
    this.type = options.type;
    this.nonRetryable = options.nonRetryable ?? NON_RETRYABLE_ERROR_TYPES.includes(options.type);
  }

  static retryable(message: string, type: string): StepFailure {
    return new StepFailure(message, { type, nonRetryable: false });
  }

  static nonRetryable(message: string, type: string): StepFailure {
    return new StepFailure(message, { type, nonRetryable: true });
  }
}

/** Bad input found inside the pipeline: retrying cannot help, so the step fails at once with this message. */
export function invalidInput(message: string, cause?: unknown): StepFailure {
  return new StepFailure(message, { type: 'InvalidInputError', nonRetryable: true, cause });
}

/** The model record or its spec cannot work with this input: not retryable either. */
export function modelConfigurationError(message: string): StepFailure {
  return new StepFailure(message, { type: 'ModelConfigurationError', nonRetryable: true });
}
