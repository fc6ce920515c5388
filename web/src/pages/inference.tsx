import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, download } from '../api';
import { TaskCountsBar } from '../components/counts';
import {
  ConfirmButton,
  ErrorNote,
  Json,
  Note,
  PageHeader,
  Pager,
  Progress,
  StatusBadge,
  useTitle,
} from '../components/ui';
import { duration, elapsed, shortId, stepName, when } from '../format';
import { followInference, type LiveMode } from '../live';
import { Link, navigate } from '../router';
import { countTasks } from '../../../workflows/contract/task-counts';
import {
  TERMINAL,
  type Inference,
  type InferenceStatus,
  type LiveEvents,
  type PipelineStepState,
  type Task,
  type TasksAnswer,
} from '../types';

type StepProgress = LiveEvents['step.progress'];
const TASKS_PER_PAGE = 25;

const MODE_TEXT: Record<LiveMode, string> = {
  connecting: 'Connecting…',
  events: 'Live (events)',
  polling: 'Live (every 2 s)',
  ended: 'Ended',
};

export function taskInputLabel(task: Task): string {
  const input = task.input;
  if (input.kind === 'url') return input.url;
  if (input.kind === 'object') return input.file_name;
  if (input.kind === 'series')
    return `${input.frames.length} frames: ${input.frames.map((frame) => (frame.kind === 'url' ? frame.url : frame.file_name)).join(', ')}`;
  return `${input.area_label} · ${input.date}`;
}

/** The inference, its tasks and their steps, kept current by events or polling (live.ts). */
function useLiveInference(id: string) {
  const [inference, setInference] = useState<Inference>();
  const [tasks, setTasks] = useState<Task[]>();
  const [status, setStatus] = useState<InferenceStatus>();
  const [message, setMessage] = useState<string | null>();
  const [progress, setProgress] = useState<Record<string, StepProgress>>({});
  const [mode, setMode] = useState<LiveMode>('connecting');
  const [error, setError] = useState<string>();
  const [loadError, setLoadError] = useState<string>();
  const [run, setRun] = useState<{ generation: number; expectRunning: boolean; since?: string }>({
    generation: 0,
    expectRunning: false,
  });
  const lastEventId = useRef<string>();

  const loadInference = () =>
    api.get<Inference>(`/api/v2/inference/${id}`).then(
      (answer) => {
        setInference(answer);
        setLoadError(undefined);
      },
      (failure: Error) => setLoadError(failure.message),
    );

  useEffect(() => {
    void loadInference();
  }, [id]);

  useEffect(() => {
    const updateTask = (taskId: string, change: (task: Task) => Task) =>
      setTasks((current) => current?.map((task) => (task.task_id === taskId ? change(task) : task)));
    const stop = followInference(
      id,
      {
        snapshot: (answer: TasksAnswer) => {
          setTasks(answer.tasks);
          setStatus(answer.status);
        },
        mode: (next) => {
          setMode(next);
          if (next === 'ended') void loadInference(); // COCO link, finish time, message
        },
        error: setError,
        event: (type, data, eventId) => {
          if (eventId) lastEventId.current = eventId;
          if (type === 'inference.status' || type === 'inference.end') {
            const event = data as LiveEvents['inference.status'];
            setStatus(event.status);
            if (event.message !== undefined) setMessage(event.message);
          } else if (type === 'task.status') {
            const event = data as LiveEvents['task.status'];
            updateTask(event.task_id, (task) => ({
              ...task,
              status: event.status,
              message: event.message ?? task.message,
            }));
          } else if (type === 'step.status') {
            const event = data as LiveEvents['step.status'];
            updateTask(event.task_id, (task) => ({
              ...task,
              pipeline_steps: task.pipeline_steps.map((step) =>
                step.process_id === event.step_id
                  ? { ...step, status: event.status, message: event.message ?? step.message }
                  : step,
              ),
            }));
          } else if (type === 'step.progress') {
            const event = data as StepProgress;
            setProgress((current) => ({ ...current, [`${event.task_id}/${event.step_id}`]: event }));
          } else if (type === 'task.output') {
            const event = data as LiveEvents['task.output'];
            updateTask(event.task_id, (task) => ({
              ...task,
              tile_url_template: event.tile_url_template ?? task.tile_url_template,
            }));
          }
        },
      },
      { expectRunning: run.expectRunning, since: run.since },
    );
    return stop;
  }, [id, run.generation]);

  return {
    inference,
    tasks,
    status: status ?? inference?.status,
    message: message ?? inference?.status_message,
    progress,
    mode,
    error: error ?? loadError,
    loadInference,
    /** Follows a new run (after a retry) from its start. */
    restart: () => {
      setProgress({});
      setRun((current) => ({ generation: current.generation + 1, expectRunning: true, since: lastEventId.current }));
    },
  };
}

export function InferencePage({ id }: { id: string }) {
  const live = useLiveInference(id);
  const { inference, tasks, status } = live;
  useTitle(inference?.description || `Inference ${shortId(id)}`);
  const [actionError, setActionError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [taskFilter, setTaskFilter] = useState('');
  const [taskOffset, setTaskOffset] = useState(0);

  const counts = useMemo(() => (tasks ? countTasks(tasks.map((task) => task.status)) : inference), [tasks, inference]);
  const ended = status !== undefined && TERMINAL.includes(status);
  const retryable = ended && counts !== undefined && counts.tasks_count_failed + counts.tasks_count_stopped > 0;
  const hasTiles = tasks?.some((task) => task.tile_url_template) ?? false;

  const act = async (label: string, action: () => Promise<unknown>, done?: string) => {
    setBusy(true);
    setActionError(undefined);
    setNotice(undefined);
    try {
      await action();
      if (done) setNotice(done);
    } catch (failure) {
      setActionError(`${label}: ${(failure as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  const stop = () =>
    act(
      'Stop',
      () => api.post(`/api/v2/inference/${id}/stop`),
      'Stop requested: running steps stop at their next heartbeat, then the inference becomes STOPPED.',
    );
  const retry = () =>
    act(
      'Retry',
      async () => {
        await api.post(`/api/v2/inference/${id}/retry`);
        live.restart();
        await live.loadInference();
      },
      'Retrying the failed and stopped tasks from the step that did not finish.',
    );
  const remove = () =>
    act('Delete', async () => {
      await api.delete(`/api/v2/inference/${id}`);
      navigate('/inferences');
    });
  const coco = () => act('COCO download', () => download(`/api/v2/inference/${id}/coco`, `${id}-coco.json`));
  const stacCollection = () =>
    act('STAC download', () => download(`/api/v2/inference/${id}/stac`, `${id}-collection.json`));
  const exported = (tasks ?? []).some((task) => task.outputs.results);

  const shown = (tasks ?? []).filter((task) => !taskFilter || task.status === taskFilter);
  const page = shown.slice(taskOffset, taskOffset + TASKS_PER_PAGE);

  return (
    <>
      <PageHeader
        title={inference?.description || `Inference ${shortId(id)}`}
        back={{ href: '/inferences', label: 'Inferences' }}
      >
        {status ? <StatusBadge status={status} /> : null}
        {status && !ended ? (
          <button type="button" class="button" disabled={busy} onClick={stop}>
            Stop
          </button>
        ) : null}
        {retryable ? (
          <button type="button" class="button" disabled={busy} onClick={retry}>
            Retry
          </button>
        ) : null}
        {hasTiles ? (
          <Link class="button button-primary" href={`/inferences/${id}/map`}>
            Map
          </Link>
        ) : null}
        {inference?.coco_url ? (
          <button type="button" class="button" disabled={busy} onClick={coco}>
            COCO export
          </button>
        ) : null}
        {exported ? (
          <button type="button" class="button" disabled={busy} onClick={stacCollection} data-stac-collection>
            STAC Collection
          </button>
        ) : null}
        <ConfirmButton label="Delete" confirmLabel="Delete inference" disabled={busy} onConfirm={remove} />
      </PageHeader>
      <ErrorNote message={live.error} title="Could not load the inference" />
      <ErrorNote message={actionError} />
      {notice ? <Note>{notice}</Note> : null}

      {inference ? (
        <section class="card summary" aria-label="Summary">
          <dl class="facts">
            <div>
              <dt>Status</dt>
              <dd aria-live="polite" data-inference-status={status}>
                {status}
                {live.message ? <span class="muted"> — {live.message}</span> : null}
              </dd>
            </div>
            <div>
              <dt>Model</dt>
              <dd>
                <Link href={`/models/${inference.model_id}`}>{inference.model_display_name}</Link>
              </dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>
                {when(inference.created_at)} by {inference.created_by}
              </dd>
            </div>
            <div>
              <dt>Run time</dt>
              <dd>{inference.started_at ? elapsed(inference.started_at, inference.finished_at) : '—'}</dd>
            </div>
            {inference.location ? (
              <div>
                <dt>Location</dt>
                <dd>{inference.location}</dd>
              </div>
            ) : null}
            <div>
              <dt>Workflow</dt>
              <dd>
                <a href={inference.temporal_ui_url} target="_blank" rel="noopener noreferrer">
                  Temporal Web UI
                </a>
                {inference.retries ? <span class="muted"> · {inference.retries} retries</span> : null}
              </dd>
            </div>
            <div>
              <dt>Updates</dt>
              <dd data-live-mode={live.mode}>{MODE_TEXT[live.mode]}</dd>
            </div>
          </dl>
          {counts ? <TaskCountsBar counts={counts} /> : null}
        </section>
      ) : null}

      <section aria-labelledby="tasks-heading">
        <div class="section-head">
          <h2 id="tasks-heading">Tasks{tasks ? ` (${tasks.length})` : ''}</h2>
          {tasks && tasks.length > 5 ? (
            <label class="inline">
              Show{' '}
              <select
                value={taskFilter}
                onChange={(event) => {
                  setTaskFilter(event.currentTarget.value);
                  setTaskOffset(0);
                }}
              >
                <option value="">all</option>
                {['RUNNING', 'WAITING', 'FINISHED', 'FAILED', 'STOPPED'].map((value) => (
                  <option value={value}>{value.toLowerCase()}</option>
                ))}
              </select>
            </label>
          ) : null}
        </div>
        {tasks === undefined && !live.error ? <p class="muted">Loading…</p> : null}
        {page.map((task) => (
          <TaskCard task={task} inferenceId={id} progress={live.progress} />
        ))}
        <Pager offset={taskOffset} limit={TASKS_PER_PAGE} total={shown.length} onPage={setTaskOffset} />
      </section>
    </>
  );
}

function TaskCard({
  task,
  inferenceId,
  progress,
}: {
  task: Task;
  inferenceId: string;
  progress: Record<string, StepProgress>;
}) {
  const [outputUrl, setOutputUrl] = useState<string>();
  const [outputError, setOutputError] = useState<string>();
  const fetchOutputUrl = async () => {
    try {
      setOutputUrl((await api.get<{ url: string }>(`/api/v2/tasks/${task.task_id}/output-url`)).url);
    } catch (failure) {
      setOutputError((failure as Error).message);
    }
  };
  return (
    <article class="card task" data-task={task.task_id} aria-labelledby={`${task.task_id}-title`}>
      <header class="task-head">
        <h3 id={`${task.task_id}-title`}>
          Task {task.task_index} <span class="muted mono task-input">{taskInputLabel(task)}</span>
        </h3>
        <StatusBadge status={task.status} />
      </header>
      {task.message ? (
        <p class={task.status === 'FAILED' ? 'task-message error-text' : 'task-message'}>{task.message}</p>
      ) : null}
      <ol class="steps">
        {task.pipeline_steps.map((step) => (
          <StepRow task={task} step={step} progress={progress[`${task.task_id}/${step.process_id}`]} />
        ))}
      </ol>
      {task.output_key ? (
        <div class="task-outputs">
          {task.tile_url_template ? (
            <Link href={`/inferences/${inferenceId}/map?task=${encodeURIComponent(task.task_id)}`}>
              Show on the map
            </Link>
          ) : null}
          {outputUrl ? (
            <a href={outputUrl} target="_blank" rel="noopener noreferrer">
              Output GeoTIFF (signed URL, 8 h)
            </a>
          ) : (
            <button type="button" class="link-button" onClick={fetchOutputUrl}>
              Get the output GeoTIFF link
            </button>
          )}
          {outputError ? <span class="error-text">{outputError}</span> : null}
        </div>
      ) : null}
      {task.outputs.results ? <TaskResultsLinks task={task} inferenceId={inferenceId} /> : null}
    </article>
  );
}

/**
 * The results export's files of a task: its STAC Item (the API's URL to copy into STAC Browser / pystac, and
 * a download) and its vectors. Downloads go through the API with the key, as the COCO export.
 */
function TaskResultsLinks({ task, inferenceId }: { task: Task; inferenceId: string }) {
  const [error, setError] = useState<string>();
  const results = task.outputs.results as { vectors?: { features?: number } | null };
  const itemPath = `/api/v2/inference/${inferenceId}/stac/items/${encodeURIComponent(task.task_id)}`;
  const vectorsPath = `/api/v2/inference/${inferenceId}/tasks/${encodeURIComponent(task.task_id)}/vectors`;
  const save = (path: string, name: string) => () =>
    download(path, name).catch((failure: Error) => setError(failure.message));
  return (
    <div class="task-outputs" data-task-results={task.task_id}>
      <span>
        STAC Item{' '}
        <code class="mono" data-stac-item-url>
          {`${location.origin}${itemPath}`}
        </code>
      </span>
      <button type="button" class="link-button" onClick={save(itemPath, `${task.task_id}-item.json`)}>
        Download the STAC Item
      </button>
      {results.vectors ? (
        <>
          <button
            type="button"
            class="link-button"
            data-vectors="geojson"
            onClick={save(`${vectorsPath}?format=geojson`, `${task.task_id}-vectors.geojson`)}
          >
            Vectors GeoJSON ({results.vectors.features ?? 0} polygons)
          </button>
          <button
            type="button"
            class="link-button"
            data-vectors="fgb"
            onClick={save(`${vectorsPath}?format=fgb`, `${task.task_id}-vectors.fgb`)}
          >
            Vectors FlatGeobuf
          </button>
        </>
      ) : null}
      {error ? <span class="error-text">{error}</span> : null}
    </div>
  );
}

function progressText(progress: StepProgress): string {
  const unit = progress.unit ? ` ${progress.unit}` : '';
  const eta =
    progress.eta_seconds != null && progress.eta_seconds > 0 ? `, about ${duration(progress.eta_seconds)} left` : '';
  return `${progress.done} of ${progress.total}${unit}${eta}`;
}

function StepRow({ task, step, progress }: { task: Task; step: PipelineStepState; progress?: StepProgress }) {
  const [open, setOpen] = useState<'log' | 'result' | undefined>();
  const label = `${stepName(step.process_id)} of task ${task.task_index}`;
  return (
    <li class="step" data-step={step.process_id} data-step-status={step.status}>
      <div class="step-line">
        <span class="step-number" aria-hidden="true">
          {step.step_number + 1}
        </span>
        <span class="step-name">
          {stepName(step.process_id)} <span class="muted mono">{step.process_id}</span>
        </span>
        <StatusBadge status={step.status} />
        {step.started_at ? <span class="muted step-time">{elapsed(step.started_at, step.finished_at)}</span> : null}
        <span class="step-buttons">
          {step.status !== 'WAITING' ? (
            <button
              type="button"
              class="link-button"
              aria-expanded={open === 'log'}
              onClick={() => setOpen(open === 'log' ? undefined : 'log')}
            >
              Log
            </button>
          ) : null}
          {step.result ? (
            <button
              type="button"
              class="link-button"
              aria-expanded={open === 'result'}
              onClick={() => setOpen(open === 'result' ? undefined : 'result')}
            >
              Result
            </button>
          ) : null}
        </span>
      </div>
      {step.status === 'RUNNING' ? (
        progress && progress.total > 0 ? (
          <Progress
            label={`Progress of ${label}`}
            value={progress.done}
            max={progress.total}
            text={progressText(progress)}
          />
        ) : (
          <Progress label={`Progress of ${label}`} text="running…" />
        )
      ) : null}
      {step.message && step.status !== 'FINISHED' ? <p class="step-message">{step.message}</p> : null}
      {open === 'log' ? (
        <StepLog taskId={task.task_id} stepId={step.process_id} running={step.status === 'RUNNING'} />
      ) : null}
      {open === 'result' ? <Json value={step.result} label={`Result of ${label}`} /> : null}
    </li>
  );
}

function StepLog({ taskId, stepId, running }: { taskId: string; stepId: string; running: boolean }) {
  const [text, setText] = useState<string>();
  const [error, setError] = useState<string>();
  const pre = useRef<HTMLPreElement>(null);
  const load = () =>
    api.text(`/api/v2/tasks/${taskId}/logs/${stepId}`).then(
      (log) => {
        setText(log);
        setError(undefined);
      },
      (failure: Error) => setError(failure.message),
    );
  useEffect(() => {
    void load();
    if (!running) return;
    const timer = setInterval(() => void load(), 3000);
    return () => clearInterval(timer);
  }, [taskId, stepId, running]);
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);
  return (
    <div class="step-log">
      {error ? <p class="error-text">{error}</p> : null}
      {text !== undefined ? (
        <pre class="code log" ref={pre} tabIndex={0} aria-label={`Log of ${stepName(stepId)}`} data-step-log={stepId}>
          {text}
        </pre>
      ) : null}
      <button type="button" class="link-button" onClick={() => void load()}>
        Reload log
      </button>
    </div>
  );
}
