/**
 * The REST API as the CLI sees it: fetch with the API key, and every failure turned into a CliError whose
 * message says what to do and whose exit code says what kind of failure it was (docs/cli.md).
 */
export const EXIT = {
  OK: 0,
  /** The inference ended FAILED or STOPPED (watch, run --watch), or something else went wrong. */
  FAILED: 1,
  USAGE: 2,
  /** The API refused the request (4xx other than auth, 5xx): its message, naming the field, is printed. */
  API_ERROR: 3,
  /** No API key, or the API refused it (401 / 403). */
  AUTH: 4,
  /** The API could not be reached. */
  UNREACHABLE: 5,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface ApiOptions {
  apiUrl: string;
  apiKey?: string;
}

type Init = Omit<RequestInit, 'body'> & { json?: unknown; body?: RequestInit['body']; duplex?: 'half' };

function unreachable(url: string, error: unknown): CliError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (error as Error).message;
  return new CliError(`cannot reach the API at ${url} (${reason}); check GEO_API_URL or --api-url`, EXIT.UNREACHABLE);
}

export class GeoApi {
  readonly baseUrl: string;

  constructor(private readonly options: ApiOptions) {
    this.baseUrl = options.apiUrl.replace(/\/+$/, '');
  }

  get apiKey(): string {
    if (!this.options.apiKey) throw new CliError('no API key: set GEO_API_KEY or pass --api-key', EXIT.AUTH);
    return this.options.apiKey;
  }

  authHeaders(): Record<string, string> {
    return { Authorization: `Bearer ${this.apiKey}` };
  }

  /** A request to the API; answers other than 2xx become a CliError. */
  async fetch(route: string, init: Init = {}): Promise<Response> {
    const url = route.startsWith('http') ? route : `${this.baseUrl}${route}`;
    const { json, ...rest } = init;
    const headers: Record<string, string> = {
      ...this.authHeaders(),
      ...(json !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...((init.headers as Record<string, string> | undefined) ?? {}),
    };
    let response: Response;
    try {
      response = await fetch(url, {
        ...rest,
        headers,
        body: json !== undefined ? JSON.stringify(json) : rest.body,
      } as RequestInit);
    } catch (error) {
      throw unreachable(this.baseUrl, error);
    }
    if (!response.ok) throw await this.errorOf(response);
    return response;
  }

  async json<T = any>(route: string, init: Init = {}): Promise<T> {
    const response = await this.fetch(route, init);
    const text = await response.text();
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      throw new CliError(`unexpected answer from ${response.url}: not JSON (is GEO_API_URL the API?)`, EXIT.API_ERROR);
    }
  }

  get<T = any>(route: string): Promise<T> {
    return this.json<T>(route);
  }

  post<T = any>(route: string, body?: unknown): Promise<T> {
    return this.json<T>(route, { method: 'POST', json: body ?? {} });
  }

  /** The API's error body `{ statusCode, error, message, field }` as a CliError. */
  async errorOf(response: Response): Promise<CliError> {
    const text = await response.text().catch(() => '');
    let body: { message?: string; field?: string; error?: string } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const message = body?.message ?? (text.slice(0, 200) || response.statusText);
    const details = { status: response.status, ...(body?.field ? { field: body.field } : {}) };
    if (response.status === 401 || response.status === 403)
      return new CliError(
        `the API refused the credentials (HTTP ${response.status}): ${message}; check GEO_API_KEY or --api-key`,
        EXIT.AUTH,
        details,
      );
    const field = body?.field && !message.startsWith(`${body.field}:`) ? ` (field ${body.field})` : '';
    return new CliError(`HTTP ${response.status}: ${message}${field}`, EXIT.API_ERROR, details);
  }
}
