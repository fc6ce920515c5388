import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure converter of workers and clients with the payload codec on (loaded by path: the SDK's
 * DataConverter.failureConverterPath). A failure's message and stack trace move into its `encodedAttributes`
 * payload, which the codec encrypts like any other, so the history holds "Encoded failure" instead of a step's
 * reason (which names input URLs). Decoding needs no setting: every DefaultFailureConverter reads
 * `encodedAttributes` back, and failures recorded in clear stay as they are.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
