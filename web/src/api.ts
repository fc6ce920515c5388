import { apiKey } from './session';

/** A failed API call: the API's `{ statusCode, error, message, field }` body, or what the transport said. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Dotted path of the request field to blame (`spatial_domain.urls.0`), when the API named one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>;

let unauthorized: (() => void) | undefined;
/** Called on any 401: the key was revoked or mistyped, so the app asks for one again. */
export function onUnauthorized(handler: () => void): void {
  unauthorized = handler;
}

export function withQuery(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {}))
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

function errorFrom(status: number, statusText: string, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { message?: unknown; field?: unknown };
    if (typeof body.message === 'string')
      return new ApiError(status, body.message, typeof body.field === 'string' ? body.field : undefined);
  } catch {
    // not JSON: a proxy's page or plain text
  }
  return new ApiError(status, text.trim().slice(0, 300) || `${status} ${statusText}`);
}

interface RequestOptions {
  query?: Query;
  json?: unknown;
  body?: BodyInit;
  signal?: AbortSignal;
  /** Use this key instead of the session's (signing in checks a key before keeping it). */
  key?: string;
}

async function send(method: string, path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = {};
  const key = options.key ?? apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let body = options.body;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), { method, headers, body, signal: options.signal });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, `the API did not answer (${(error as Error).message})`);
  }
  if (!response.ok) {
    if (response.status === 401 && options.key === undefined) unauthorized?.();
    throw errorFrom(response.status, response.statusText, await response.text());
  }
  return response;
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(method, path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { query, signal }),
  post: <T>(path: string, json?: unknown) => request<T>('POST', path, { json: json ?? {} }),
  delete: (path: string) => request<void>('DELETE', path),
  text: async (path: string) => (await send('GET', path, {})).text(),
  blob: async (path: string) => (await send('GET', path, {})).blob(),
};

/**
 * multipart/form-data with upload progress (fetch reports none): the parts go in the FormData's order,
 * which matters for bulk uploads (the `inference` field before the files).
 */
export function upload<T>(
  path: string,
  form: FormData,
  onProgress: (sent: number, total: number) => void,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    const key = apiKey();
    if (key) xhr.setRequestHeader('Authorization', `Bearer ${key}`);
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : 0);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as T);
        } catch {
          reject(new ApiError(xhr.status, 'the API answered with something that is not JSON'));
        }
        return;
      }
      if (xhr.status === 401) unauthorized?.();
      reject(errorFrom(xhr.status, xhr.statusText, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'the upload was interrupted (network error)'));
    xhr.onabort = () => reject(new DOMException('upload cancelled', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(form);
  });
}

/**
 * The same URL on this page's origin. The API builds absolute links from PUBLIC_BASE_URL, which may name
 * another host than the one the browser used; the console only talks to the origin that served it.
 */
export function sameOrigin(url: string): string {
  // Not through URL(): it would percent-encode the {z}/{x}/{y} of tile templates.
  return url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '') || '/';
}

/** Saves a response body as a file (the COCO export needs the API key, so a plain link would not do). */
export async function download(path: string, fileName: string): Promise<void> {
  const blob = await api.blob(path);
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
