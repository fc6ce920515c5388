import { useEffect } from 'preact/hooks';
import { api } from '../api';
import { TaskCountsBar } from '../components/counts';
import { ErrorNote, PageHeader, Pager, StatusBadge, useLoad, useTitle } from '../components/ui';
import { shortId, when } from '../format';
import { Link, setQuery, useLocation } from '../router';
import { INFERENCE_STATUSES } from '../../../workflows/contract/status';
import { TERMINAL, type Inference, type Model, type Page } from '../types';

const LIMIT = 20;
const REFRESH_MS = 3000;

export function InferencesPage() {
  useTitle('Inferences');
  const { query } = useLocation();
  const status = query.get('status') ?? '';
  const modelId = query.get('model_id') ?? '';
  const offset = Math.max(0, Number(query.get('offset') ?? 0) || 0);

  const models = useLoad((signal) => api.get<Page<Model>>('/api/v2/models', { limit: 1000 }, signal), []);
  const list = useLoad(
    (signal) =>
      api.get<Page<Inference>>(
        '/api/v2/inference',
        { limit: LIMIT, offset, status, model_id: modelId || undefined },
        signal,
      ),
    [status, modelId, offset],
  );

  // Live status and counts: reload while anything shown has not ended.
  const active = list.data?.results.some((row) => !TERMINAL.includes(row.status)) ?? false;
  useEffect(() => {
    if (!active) return;
    const timer = setTimeout(list.reload, REFRESH_MS);
    return () => clearTimeout(timer);
  }, [active, list.data]);

  return (
    <>
      <PageHeader title="Inferences">
        <Link class="button button-primary" href="/inferences/new">
          New inference
        </Link>
      </PageHeader>
      <form class="filters" role="search" aria-label="Filter inferences" onSubmit={(event) => event.preventDefault()}>
        <div class="field">
          <label for="filter-status">Status</label>
          <select
            id="filter-status"
            value={status}
            onChange={(event) => setQuery({ status: event.currentTarget.value, offset: undefined })}
          >
            <option value="">Any</option>
            {INFERENCE_STATUSES.map((value) => (
              <option value={value}>{value}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-model">Model</label>
          <select
            id="filter-model"
            value={modelId}
            onChange={(event) => setQuery({ model_id: event.currentTarget.value, offset: undefined })}
          >
            <option value="">Any</option>
            {models.data?.results.map((model) => (
              <option value={model.id}>{model.display_name}</option>
            ))}
          </select>
        </div>
        <button type="button" class="button" onClick={list.reload}>
          Refresh
        </button>
        <span class="live-hint" aria-live="polite">
          {active ? 'Updating live' : ''}
        </span>
      </form>
      <ErrorNote message={list.error} title="Could not list the inferences" />
      {list.data && list.data.results.length === 0 ? (
        <p class="empty">
          No inferences{status || modelId ? ' match these filters' : ' yet'}.{' '}
          <Link href="/inferences/new">Start one</Link>.
        </p>
      ) : null}
      {list.data && list.data.results.length > 0 ? (
        <div class="table-wrap">
          <table class="table table-cards" aria-label="Inferences" aria-busy={list.loading}>
            <thead>
              <tr>
                <th scope="col">Inference</th>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col">Tasks</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.results.map((row) => (
                <tr data-inference={row.id}>
                  <td data-label="Inference">
                    <Link href={`/inferences/${row.id}`}>{row.description || `Inference ${shortId(row.id)}`}</Link>
                    <div class="muted mono">{shortId(row.id)}</div>
                  </td>
                  <td data-label="Model">{row.model_display_name}</td>
                  <td data-label="Status">
                    <StatusBadge status={row.status} />
                  </td>
                  <td data-label="Tasks">
                    <TaskCountsBar counts={row} />
                  </td>
                  <td data-label="Created">{when(row.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {list.data ? (
        <Pager
          offset={offset}
          limit={LIMIT}
          total={list.data.total_records}
          onPage={(next) => setQuery({ offset: next || undefined })}
        />
      ) : null}
    </>
  );
}
