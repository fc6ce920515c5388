import * as fs from 'node:fs';
import * as path from 'node:path';
import { USERS } from './stack';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

/** A tiny HTTP client for the REST API, as a user with an API key would call it. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly apiKey: string | null = USERS.alice.key,
  ) {}

  /** The same client with another key; undefined sends no Authorization header at all. */
  as(apiKey: string | undefined): ApiClient {
    return new ApiClient(this.baseUrl, apiKey ?? null);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.apiKey ? { Authorization: `Bearer ${this.apiKey}` } : {}), ...extra };
  }

  async request<T = any>(method: string, route: string, body?: unknown): Promise<ApiResponse<T>> {
    const response = await fetch(`${this.baseUrl}${route}`, {
      method,
      headers: this.headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { status: response.status, body: parsed as T, text, headers: response.headers };
  }

  get<T = any>(route: string) {
    return this.request<T>('GET', route);
  }

  post<T = any>(route: string, body: unknown) {
    return this.request<T>('POST', route, body);
  }

  delete<T = any>(route: string) {
    return this.request<T>('DELETE', route);
  }

  async registerModel(metadata: unknown, filePath: string, fileName = path.basename(filePath)): Promise<ApiResponse> {
    const form = new FormData();
    form.set('model', typeof metadata === 'string' ? metadata : JSON.stringify(metadata));
    form.set('model_file', new Blob([fs.readFileSync(filePath)]), fileName);
    const response = await fetch(`${this.baseUrl}/api/v2/models`, {
      method: 'POST',
      headers: this.headers(),
      body: form,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, text, headers: response.headers };
  }

  /** POST /api/v2/generic-processor as a user would: the metadata field (left out when undefined) and the script. */
  async uploadProcessor(metadata: unknown, content: Buffer | string, fileName: string): Promise<ApiResponse> {
    const form = new FormData();
    if (metadata !== undefined)
      form.set('generic_processor', typeof metadata === 'string' ? metadata : JSON.stringify(metadata));
    form.set('generic_processor_file', new Blob([content]), fileName);
    const response = await fetch(`${this.baseUrl}/api/v2/generic-processor`, {
      method: 'POST',
      headers: this.headers(),
      body: form,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, text, headers: response.headers };
  }

  /** Polls the inference until it reaches a final status (or the deadline passes). */
  async waitForInference(
    id: string,
    timeoutMs = 180_000,
    until: (body: any) => boolean = (body) => ['COMPLETED', 'FAILED', 'STOPPED'].includes(body.status),
  ) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await this.get(`/api/v2/inference/${id}`);
      if (response.status !== 200) throw new Error(`GET inference ${id}: ${response.status} ${response.text}`);
      if (until(response.body)) return response.body;
      if (Date.now() > deadline) throw new Error(`inference ${id} still ${response.body.status} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
