/**
 * Helpers shared by the durability tests (test/e2e/durability*.e2e.spec.ts) and the fault table script
 * (bench/faults.ts): what a workflow's pending activities look like, which spawned worker runs one, polling,
 * and an HTTP proxy in front of object storage that can hold one chosen request (to find the moment a step
 * is mid-way without slowing anything else).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import type { WorkflowHandle } from '@temporalio/client';

export interface PendingActivity {
  name: string;
  attempt: number;
  started: boolean;
  worker: string;
  details?: unknown;
}

/** The workflow's pending activities as `describe` shows them (state STARTED = a worker runs it). */
export async function pendingActivities(handle: WorkflowHandle): Promise<PendingActivity[]> {
  const description = await handle.describe();
  return (description.raw.pendingActivities ?? []).map((activity) => {
    const payload = activity.heartbeatDetails?.payloads?.[0]?.data;
    return {
      name: activity.activityType?.name ?? '',
      attempt: activity.attempt ?? 1,
      // temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
      started: activity.state === 2,
      worker: activity.lastWorkerIdentity ?? '',
      // Keep-alive heartbeats before the first progress carry no details (an empty null payload).
      details: payload?.length ? JSON.parse(Buffer.from(payload).toString('utf8')) : undefined,
    };
  });
}

/** Calls `probe` every `intervalMs` until it returns a value; throws after `timeoutMs`. */
export async function poll<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 120_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The worker process whose identity (`pid@host`, the SDK's default) ran the activity. */
export function workerOf(workers: ChildProcess[], identity: string): ChildProcess {
  const worker = workers.find((child) => identity.startsWith(`${child.pid}@`));
  if (!worker) throw new Error(`no spawned worker has identity ${identity}`);
  return worker;
}

/** The attempt numbers of every activity start in the workflow's history, by activity type. */
export async function activityAttempts(handle: WorkflowHandle): Promise<Array<{ name: string; attempt: number }>> {
  const history = await handle.fetchHistory();
  const names = new Map<string, string>();
  const attempts: Array<{ name: string; attempt: number }> = [];
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) names.set(String(event.eventId), scheduled.activityType?.name ?? '');
    const started = event.activityTaskStartedEventAttributes;
    if (started)
      attempts.push({ name: names.get(String(started.scheduledEventId)) ?? '', attempt: started.attempt ?? 0 });
  }
  return attempts;
}

export const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * A COCO export with what differs between two inferences of the same inputs replaced: the inference and task
 * ids (in the description, file names and extras) and the creation date. Two runs of the same inputs give
 * the same string.
 */
export function comparableCoco(coco: unknown, inferenceId: string, taskIds: string[]): string {
  let text = JSON.stringify(coco).replaceAll(inferenceId, '<inference>');
  taskIds.forEach((taskId, index) => (text = text.replaceAll(taskId, `<task ${index}>`)));
  return text.replace(/"date_created":"[^"]*"/, '"date_created":"<date>"');
}

export interface HeldRequest {
  method: string;
  url: string;
  body: Buffer;
  heldAt: number;
}

export interface HoldingHttpProxy {
  /** host:port to give the app instead of the real service's. */
  address: string;
  /** The next request matching: its body is read in full, then it is neither forwarded nor answered. */
  holdNext(method: string, path: RegExp): void;
  /** Requests held so far (a killed client leaves its request here). */
  held: HeldRequest[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of a real HTTP service (MinIO), forwarding each request unchanged (the Host header
 * included, so S3 signatures still match) except one chosen request, which it holds: the client has sent
 * it (the step is past everything before it) and waits for an answer that never comes.
 */
export async function startHoldingHttpProxy(target: { host: string; port: number }): Promise<HoldingHttpProxy> {
  const held: HeldRequest[] = [];
  const holds: Array<{ method: string; path: RegExp }> = [];
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((request, response) => {
    const index = holds.findIndex((hold) => hold.method === request.method && hold.path.test(request.url ?? ''));
    if (index >= 0) {
      holds.splice(index, 1);
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () =>
        held.push({ method: request.method!, url: request.url!, body: Buffer.concat(chunks), heldAt: Date.now() }),
      );
      return;
    }
    const upstream = http.request(
      {
        host: target.host,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
        agent,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    holdNext(method, path) {
      holds.push({ method, path });
    },
    held,
    async close() {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
