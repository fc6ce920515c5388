import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes that let users find inferences in the Temporal Web UI (e.g. `InferenceStatus="FAILED"`).
 * Registered by the dev server launcher, scripts/with-services.sh and temporal/setup-search-attributes.sh.
 */
export const INFERENCE_STATUS = defineSearchAttributeKey('InferenceStatus', SearchAttributeType.KEYWORD);
export const MODEL_ID = defineSearchAttributeKey('ModelId', SearchAttributeType.KEYWORD);
export const CREATED_BY = defineSearchAttributeKey('CreatedBy', SearchAttributeType.KEYWORD);

export const INFERENCE_SEARCH_ATTRIBUTES = [INFERENCE_STATUS, MODEL_ID, CREATED_BY];
