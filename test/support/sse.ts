import { EventSource } from 'eventsource';
import { INFERENCE_EVENT_TYPES } from '../../workflows/contract/events';

export interface SseMessage {
  id?: string;
  event: string;
  data: any;
}

/**
 * A raw Server-Sent Events reader over fetch, for the wire-level details an EventSource hides: comments,
 * the status code, when the server ends the body. `messages` and `comments` fill as the stream arrives.
 */
export interface RawStream {
  status: number;
  headers: Headers;
  messages: SseMessage[];
  comments: string[];
  /** Resolves when the server ends the body (or the stream is aborted). */
  ended: Promise<void>;
  abort(): void;
  waitFor(predicate: (messages: SseMessage[]) => boolean, timeoutMs?: number): Promise<SseMessage[]>;
}

export async function openRawStream(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { Accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  const listeners = new Set<() => void>();
  const ended = (async () => {
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const message: { id?: string; event?: string; data?: string } = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            const match = /^(id|event|data): ?(.*)$/.exec(line);
            if (match) message[match[1] as 'id' | 'event' | 'data'] = match[2];
          }
          if (message.data !== undefined)
            messages.push({ id: message.id, event: message.event ?? 'message', data: JSON.parse(message.data) });
          for (const listener of listeners) listener();
        }
      }
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    } finally {
      for (const listener of listeners) listener();
    }
  })();
  let finished = false;
  ended.finally(() => (finished = true)).catch(() => undefined);
  return {
    status: response.status,
    headers: response.headers,
    messages,
    comments,
    ended,
    abort: () => controller.abort(),
    waitFor(predicate, timeoutMs = 180_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(messages)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(messages);
          } else if (finished) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`stream ended first; got ${messages.map((m) => `${m.id}:${m.event}`).join(' ')}`));
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out; got ${messages.map((m) => `${m.id}:${m.event}`).join(' ')}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

/**
 * A real EventSource (the `eventsource` package, as a browser would run it) collecting every inference event.
 * `closed` resolves when it gives up reconnecting: after inference.end the server ends the stream, the
 * reconnect with Last-Event-ID gets 204 No Content, and an EventSource stops there.
 */
export function collectWithEventSource(
  url: string,
  apiKey?: string,
): { source: EventSource; messages: SseMessage[]; closed: Promise<void> } {
  const source = new EventSource(url, {
    fetch: (input, init) =>
      fetch(input, {
        ...init,
        headers: { ...(init?.headers ?? {}), ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
      }),
  });
  const messages: SseMessage[] = [];
  for (const type of INFERENCE_EVENT_TYPES) {
    source.addEventListener(type, (event) => {
      messages.push({ id: event.lastEventId, event: type, data: JSON.parse(event.data) });
    });
  }
  const closed = new Promise<void>((resolve) => {
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) resolve();
    });
  });
  return { source, messages, closed };
}
