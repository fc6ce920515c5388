import { api, ApiError, sameOrigin } from './api';
import { TERMINAL, type InferenceStatus, type LiveEvents, type LiveEventType, type TasksAnswer } from './types';

export type LiveMode = 'connecting' | 'events' | 'polling' | 'ended';

export interface LiveHandlers {
  /** A full picture of the tasks (GET .../tasks): on start, after gaps, and at the end. */
  snapshot(answer: TasksAnswer): void;
  /** An event; `id` is its place in the inference's stream (a later follow can start after it). */
  event<T extends LiveEventType>(type: T, data: LiveEvents[T], id: string): void;
  mode(mode: LiveMode): void;
  error(message: string | undefined): void;
}

const EVENT_TYPES: LiveEventType[] = [
  'inference.status',
  'task.status',
  'step.status',
  'step.progress',
  'task.output',
  'inference.end',
];
const POLL_MS = 2000;

interface EventsToken {
  token: string;
  expires_at: string;
  events_url: string;
}

/**
 * Follows one inference until it ends: Server-Sent Events from GET /api/v2/inference/{id}/events when the API
 * has them (token from POST .../events/token, since EventSource cannot send the API key), else GET .../tasks
 * every 2 s (an API without the events route answers the token request 404). The stream replays the
 * inference's history, earlier runs included, so an `inference.end` in it is not taken as the end: the server
 * closes the stream when the client has everything of an ended inference, and a snapshot then decides.
 * `expectRunning`: right after a retry, an ended status may still be the previous run's; keep following until
 * the new run shows. `since`: the last event already seen (a follow after a retry skips the old run's events).
 */
export function followInference(
  id: string,
  handlers: LiveHandlers,
  options: { expectRunning?: boolean; since?: string } = {},
): () => void {
  let closed = false;
  let lastEventId = options.since ?? '';
  let source: EventSource | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  let waitingForRun = options.expectRunning === true;
  let gone = false;
  const waitUntil = Date.now() + 15_000;

  const ended = (status: InferenceStatus) => {
    if (!TERMINAL.includes(status)) {
      waitingForRun = false;
      return false;
    }
    return !waitingForRun || Date.now() > waitUntil;
  };

  const snapshot = async (): Promise<TasksAnswer | undefined> => {
    try {
      const answer = await api.get<TasksAnswer>(`/api/v2/inference/${id}/tasks`);
      if (!closed) {
        handlers.snapshot(answer);
        handlers.error(undefined);
      }
      return answer;
    } catch (error) {
      if (!closed) handlers.error((error as Error).message);
      // Deleted (or never ours): nothing more will come.
      if (error instanceof ApiError && error.status === 404) gone = true;
      return undefined;
    }
  };

  /** Coalesces the snapshots that events ask for (step results and outputs are not in the events). */
  const refreshSoon = () => {
    if (refreshTimer !== undefined || closed) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined;
      void snapshot();
    }, 400);
  };

  const finish = () => {
    source?.close();
    source = undefined;
    if (!closed) handlers.mode('ended');
  };

  const poll = async () => {
    if (closed) return;
    handlers.mode('polling');
    const answer = await snapshot();
    if (closed) return;
    if (gone || (answer && ended(answer.status))) return finish();
    timer = setTimeout(() => void poll(), POLL_MS);
  };

  const connect = async (attempt = 0) => {
    let token: EventsToken;
    try {
      token = await api.post<EventsToken>(`/api/v2/inference/${id}/events/token`);
    } catch (error) {
      if (closed) return;
      // No events route (or no such inference: the snapshot says so): follow by polling.
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return poll();
      if (attempt < 3) {
        timer = setTimeout(() => void connect(attempt + 1), 1000 * (attempt + 1));
        return;
      }
      return poll();
    }
    if (closed) return;
    const url = new URL(sameOrigin(token.events_url), location.href);
    if (!url.searchParams.has('token')) url.searchParams.set('token', token.token);
    // A new EventSource sends no Last-Event-ID header: resume through the query instead.
    if (lastEventId) url.searchParams.set('last_event_id', lastEventId);
    const opened = new EventSource(url.pathname + url.search);
    source = opened;
    opened.onopen = () => {
      handlers.mode('events');
      void snapshot(); // whatever happened before the stream opened
    };
    opened.onerror = () => {
      // While CONNECTING the browser reconnects by itself (with Last-Event-ID). CLOSED: the server said 204
      // (an ended inference, every event delivered) or refused the stream (an expired token).
      if (opened.readyState !== EventSource.CLOSED || closed || source !== opened) return;
      source = undefined;
      void snapshot().then((answer) => {
        if (closed) return;
        if (gone || (answer && ended(answer.status))) return finish();
        handlers.mode('connecting');
        timer = setTimeout(() => void connect(attempt + 1), Math.min(10_000, 1000 * (attempt + 1)));
      });
    };
    for (const type of EVENT_TYPES) {
      opened.addEventListener(type, (message) => {
        const { data: text, lastEventId: eventId } = message as MessageEvent<string>;
        let data: unknown;
        try {
          data = JSON.parse(text);
        } catch {
          return;
        }
        if (eventId) lastEventId = eventId;
        handlers.event(type, data as LiveEvents[typeof type], eventId);
        if (type === 'inference.status') ended((data as LiveEvents['inference.status']).status);
        else if (type !== 'step.progress') refreshSoon(); // results, outputs and the final state
      });
    }
  };

  handlers.mode('connecting');
  void snapshot().then((answer) => {
    if (closed) return;
    if (gone || (answer && ended(answer.status))) finish();
    else void connect();
  });

  return () => {
    closed = true;
    source?.close();
    clearTimeout(timer);
    clearTimeout(refreshTimer);
  };
}
