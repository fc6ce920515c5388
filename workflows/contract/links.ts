/**
 * Public links of an inference, built here only: the REST API's responses and the webhook events must point
 * to the same places. `apiBaseUrl` is PUBLIC_BASE_URL (no trailing slash).
 */
export function inferenceUrl(apiBaseUrl: string, inferenceId: string): string {
  return `${apiBaseUrl}/api/v2/inference/${inferenceId}`;
}

export function inferenceTasksUrl(apiBaseUrl: string, inferenceId: string): string {
  return `${inferenceUrl(apiBaseUrl, inferenceId)}/tasks`;
}

export function cocoUrl(apiBaseUrl: string, inferenceId: string): string {
  return `${inferenceUrl(apiBaseUrl, inferenceId)}/coco`;
}

export function taskOutputUrl(apiBaseUrl: string, taskId: string): string {
  return `${apiBaseUrl}/api/v2/tasks/${taskId}/output-url`;
}

/** Temporal Web UI page of an inference's workflow. */
export function workflowUiUrl(temporalUiUrl: string, namespace: string, workflowId: string): string {
  return `${temporalUiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** The inference's STAC Collection, served with signed asset URLs. */
export function stacCollectionUrl(apiBaseUrl: string, inferenceId: string): string {
  return `${inferenceUrl(apiBaseUrl, inferenceId)}/stac`;
}

export function stacItemUrl(apiBaseUrl: string, inferenceId: string, taskId: string): string {
  return `${stacCollectionUrl(apiBaseUrl, inferenceId)}/items/${taskId}`;
}

/** Vector predictions of the whole inference (format geojson or fgb), or of one task. */
export function vectorsUrl(
  apiBaseUrl: string,
  inferenceId: string,
  format: 'geojson' | 'fgb',
  taskId?: string,
): string {
  const base = taskId
    ? `${inferenceUrl(apiBaseUrl, inferenceId)}/tasks/${taskId}`
    : inferenceUrl(apiBaseUrl, inferenceId);
  return `${base}/vectors?format=${format}`;
}
