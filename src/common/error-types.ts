/**
 * ApplicationFailure types no retry can fix: bad input, a model or processor that cannot work. The workflow's
 * retry policies list them as non-retryable, and grouped steps fail such a task at once instead of rerunning it.
 */
export const NON_RETRYABLE_ERROR_TYPES = ['InvalidInputError', 'ModelConfigurationError', 'ProcessorError'];
