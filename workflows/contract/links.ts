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
