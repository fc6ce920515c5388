import cliProgress from 'cli-progress';
import { EventSource } from 'eventsource';
import {
  INFERENCE_EVENT_TYPES,
  inferenceEventsUrl,
  type InferenceEventData,
  type InferenceEventType,
  type StepProgressEvent,
} from '../workflows/contract/events';
import type { InferenceStatus } from '../workflows/contract/status';
import { CliError, EXIT, type GeoApi } from './api';
import { note, printJsonLine, type Output } from './output';

const FINAL = new Set<string>(['COMPLETED', 'FAILED', 'STOPPED']);
const STEP_DONE = new Set<string>(['FINISHED', 'FAILED', 'STOPPED']);

interface TaskView {
  status: string;
  steps: Map<string, { status: string; progress?: StepProgressEvent }>;
}

interface Step {
  id: string;
  number: number;
}

/** Per-step bars over all tasks: finished tasks count 1, a running task its reported fraction. */
class Bars {
  private readonly multi: cliProgress.MultiBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private readonly width: number;

  constructor(
    private readonly steps: Step[],
    private readonly tasks: Map<string, TaskView>,
  ) {
    this.width = Math.max(5, ...steps.map((step) => step.id.length));
    this.multi = new cliProgress.MultiBar(
      {
        format: '{name} |{bar}| {count}/{total} {detail}',
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 30,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bars.set(
      'tasks',
      this.multi.create(tasks.size, 0, { name: 'tasks'.padEnd(this.width), count: 0, detail: '' }),
    );
    for (const step of steps)
      this.bars.set(
        step.id,
        this.multi.create(tasks.size, 0, { name: step.id.padEnd(this.width), count: 0, detail: '' }),
      );
  }

  render(status: string): void {
    const tasks = [...this.tasks.values()];
    const ended = tasks.filter((task) => FINAL.has(task.status) || STEP_DONE.has(task.status)).length;
    const failed = tasks.filter((task) => task.status === 'FAILED').length;
    this.bars.get('tasks')!.update(ended, {
      count: ended,
      detail: `${status}${failed ? `, ${failed} failed` : ''}`,
    });
    for (const step of this.steps) {
      let finished = 0;
      let value = 0;
      let failures = 0;
      const running: StepProgressEvent[] = [];
      let runningCount = 0;
      for (const task of tasks) {
        const state = task.steps.get(step.id);
        if (!state) continue;
        if (state.status === 'FINISHED') {
          finished++;
          value++;
        } else if (state.status === 'FAILED' || state.status === 'STOPPED') failures++;
        else if (state.status === 'RUNNING') {
          runningCount++;
          const progress = state.progress;
          if (progress && progress.total && progress.done !== null) {
            value += Math.min(1, progress.done / progress.total);
            running.push(progress);
          }
        }
      }
      const parts: string[] = [];
      if (runningCount) parts.push(`${runningCount} running`);
      if (failures) parts.push(`${failures} failed/stopped`);
      if (running.length === 1) {
        const [progress] = running;
        parts.push(
          `${progress.unit ?? ''} ${progress.done}/${progress.total}`.trim() +
            (progress.eta_seconds !== null ? ` eta ${Math.round(progress.eta_seconds)}s` : ''),
        );
      }
      this.bars.get(step.id)!.update(value, { count: finished, detail: parts.join(', ') });
    }
  }

  stop(): void {
    this.multi.stop();
  }
}

export interface WatchResult {
  status: InferenceStatus;
  events: number;
}

/**
 * Follows GET /api/v2/inference/{id}/events (replayed from the start) to the inference's end, drawing per-step
 * bars on a terminal, printing lines elsewhere, or NDJSON events with --json. EventSource reconnects by itself
 * with Last-Event-ID after a dropped connection, so nothing is lost or repeated.
 */
export async function watchInference(api: GeoApi, id: string, output: Output): Promise<WatchResult> {
  const inference = await api.get(`/api/v2/inference/${encodeURIComponent(id)}`);
  const listing = await api.get<{
    tasks: Array<{
      task_id: string;
      status: string;
      pipeline_steps: Array<{ process_id: string; step_number: number }>;
    }>;
  }>(`/api/v2/inference/${encodeURIComponent(id)}/tasks`);
  const tasks = new Map<string, TaskView>();
  const steps = new Map<string, Step>();
  for (const task of listing.tasks) {
    tasks.set(task.task_id, { status: 'WAITING', steps: new Map() });
    for (const step of task.pipeline_steps)
      steps.set(step.process_id, { id: step.process_id, number: step.step_number });
  }
  const stepList = [...steps.values()].sort((a, b) => a.number - b.number);
  let status: string = inference.status;
  let ended: InferenceStatus | undefined;
  let count = 0;
  const bars = output.interactive ? new Bars(stepList, tasks) : undefined;
  bars?.render(status);

  const apiKey = api.apiKey;
  const source = new EventSource(inferenceEventsUrl(api.baseUrl, encodeURIComponent(id)), {
    fetch: (input, init) =>
      fetch(input, { ...init, headers: { ...(init?.headers ?? {}), Authorization: `Bearer ${apiKey}` } }),
  });

  const handle = <T extends InferenceEventType>(type: T, data: InferenceEventData[T], eventId: string) => {
    count++;
    if (output.json) printJsonLine({ id: Number(eventId), event: type, data });
    const line = (text: string) => {
      if (!output.json && !bars) note(`${new Date(data.at).toISOString().slice(11, 19)} ${text}`);
    };
    switch (type) {
      case 'inference.status': {
        const event = data as InferenceEventData['inference.status'];
        status = event.status;
        line(`inference ${event.status}${event.message ? `: ${event.message}` : ''}`);
        break;
      }
      case 'task.status': {
        const event = data as InferenceEventData['task.status'];
        const task = tasks.get(event.task_id) ?? { status: 'WAITING', steps: new Map() };
        task.status = event.status;
        tasks.set(event.task_id, task);
        line(`${event.task_id} ${event.status}${event.message ? `: ${event.message}` : ''}`);
        break;
      }
      case 'step.status': {
        const event = data as InferenceEventData['step.status'];
        const task = tasks.get(event.task_id) ?? { status: 'RUNNING', steps: new Map() };
        const previous = task.steps.get(event.step_id);
        task.steps.set(event.step_id, {
          status: event.status,
          progress: event.status === 'RUNNING' ? previous?.progress : undefined,
        });
        tasks.set(event.task_id, task);
        line(`${event.task_id} ${event.step_id} ${event.status}${event.message ? `: ${event.message}` : ''}`);
        break;
      }
      case 'step.progress': {
        const event = data as InferenceEventData['step.progress'];
        const state = tasks.get(event.task_id)?.steps.get(event.step_id);
        if (state) state.progress = event;
        break;
      }
      case 'task.output': {
        const event = data as InferenceEventData['task.output'];
        line(`${event.task_id} output ready: ${event.output_url}`);
        break;
      }
      case 'inference.end':
        ended = (data as InferenceEventData['inference.end']).status;
        break;
    }
    bars?.render(status);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      for (const type of INFERENCE_EVENT_TYPES) {
        source.addEventListener(type, (event) => {
          handle(type, JSON.parse(event.data), event.lastEventId);
          if (type === 'inference.end') resolve();
        });
      }
      let warned = false;
      source.addEventListener('error', (event) => {
        if (source.readyState === EventSource.CONNECTING) {
          if (!warned && !output.json)
            note(`connection to the event stream lost; reconnecting (${event.message ?? ''})`);
          warned = true;
          return;
        }
        // Closed by the server: 204 when there is nothing more, or an error status.
        if (event.code === 204) return resolve();
        reject(
          event.code === 401 || event.code === 403
            ? new CliError(`the API refused the credentials for the event stream (HTTP ${event.code})`, EXIT.AUTH)
            : new CliError(`event stream failed: ${event.message ?? `HTTP ${event.code}`}`, EXIT.API_ERROR),
        );
      });
      source.addEventListener('open', () => {
        warned = false;
      });
    });
  } finally {
    source.close();
    bars?.render(ended ?? status);
    bars?.stop();
  }
  if (!ended) {
    // A stream that ended without inference.end (an inference from before events existed): ask for the status.
    const latest = await api.get(`/api/v2/inference/${encodeURIComponent(id)}`);
    if (!FINAL.has(latest.status))
      throw new CliError(`event stream ended while inference ${id} is ${latest.status}`, EXIT.FAILED);
    ended = latest.status as InferenceStatus;
  }
  return { status: ended, events: count };
}
