/** Task counts of the REST contract; pure so the workflow (webhook summary) and the API share it. */
export interface TaskCounts {
  tasks_count_total: number;
  tasks_count_success: number;
  tasks_count_failed: number;
  tasks_count_stopped: number;
  tasks_count_waiting: number;
  tasks_count_running: number;
}

export function countTasks(statuses: readonly string[]): TaskCounts {
  const count = (wanted: string) => statuses.filter((status) => status === wanted).length;
  const running = count('RUNNING');
  return {
    tasks_count_total: statuses.length,
    tasks_count_success: count('FINISHED'),
    tasks_count_failed: count('FAILED'),
    tasks_count_stopped: count('STOPPED'),
    // Not finished yet: waiting for their turn or running now (so the counts always add up).
    tasks_count_waiting: count('WAITING') + running,
    tasks_count_running: running,
  };
}
