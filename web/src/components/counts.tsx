import type { TaskCounts } from '../../../workflows/contract/task-counts';

/** Task counts as text plus a stacked bar (finished / failed / stopped / running / waiting). */
export function TaskCountsBar({ counts }: { counts: TaskCounts }) {
  const total = Math.max(1, counts.tasks_count_total);
  const waiting = counts.tasks_count_waiting - counts.tasks_count_running;
  const parts = [
    ['finished', counts.tasks_count_success],
    ['failed', counts.tasks_count_failed],
    ['stopped', counts.tasks_count_stopped],
    ['running', counts.tasks_count_running],
    ['waiting', waiting],
  ] as const;
  const summary = parts
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `${count} ${name}`)
    .join(', ');
  return (
    <div class="counts">
      <div class="counts-bar" role="img" aria-label={`${counts.tasks_count_total} tasks: ${summary || 'none yet'}`}>
        {parts.map(([name, count]) =>
          count > 0 ? <span class={`counts-${name}`} style={{ width: `${(100 * count) / total}%` }} /> : null,
        )}
      </div>
      <span class="counts-text" data-counts>
        {counts.tasks_count_success}/{counts.tasks_count_total} done
        {counts.tasks_count_failed ? `, ${counts.tasks_count_failed} failed` : ''}
        {counts.tasks_count_stopped ? `, ${counts.tasks_count_stopped} stopped` : ''}
        {counts.tasks_count_running ? `, ${counts.tasks_count_running} running` : ''}
      </span>
    </div>
  );
}
