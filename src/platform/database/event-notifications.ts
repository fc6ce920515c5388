import { randomUUID } from 'node:crypto';
import { Client, type Notification } from 'pg';
import { INFERENCE_EVENTS_CHANNEL, parseEventNotification } from './inference-events';

export type NotificationMode = 'starting' | 'listen' | 'poll' | 'stopped';

export interface EventNotificationsOptions {
  databaseUrl: string;
  /** NOTIFY through another connection: the probe that tells whether notifications reach this one. */
  notify(channel: string, payload: string): Promise<void>;
  onEvent(inferenceId: string, seq: number): void;
  /** Listening (again): events committed while not listening must be read now. */
  onListening(): void;
  logger: { log(message: string): void; warn(message: string): void };
  probeTimeoutMs?: number;
}

const MAX_RETRY_MS = 30_000;

/**
 * The one LISTEN connection of an API process. Until it listens (and whenever it has lost its connection) the
 * mode is `poll`; the caller polls then. A probe NOTIFY sent through another connection must come back before
 * the mode becomes `listen`: through pglite-socket every client shares one backend and a notification reaches
 * the connection that sent it, never the listener, so the embedded engine stays on polling for good.
 */
export class EventNotifications {
  mode: NotificationMode = 'starting';
  private client?: Client;
  private retryMs = 1000;
  private retryTimer?: NodeJS.Timeout;
  private unsupported = false;
  private stopped = false;
  private readonly probes = new Map<string, () => void>();

  constructor(private readonly options: EventNotificationsOptions) {}

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.mode = 'stopped';
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new Client({ connectionString: this.options.databaseUrl });
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      this.lost(client, error);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => this.received(message));
    try {
      await client.connect();
      await client.query(`LISTEN ${INFERENCE_EVENTS_CHANNEL}`);
      if (this.stopped) {
        await client.end();
        return;
      }
      this.client = client;
      const works = await this.probe();
      if (this.stopped) {
        lost = true;
        await client.end().catch(() => undefined);
        return;
      }
      if (!works) {
        this.unsupported = true;
        this.client = undefined;
        lost = true;
        // PGlite's one backend would stay listening for every connection after this one has gone.
        await client.query(`UNLISTEN ${INFERENCE_EVENTS_CHANNEL}`).catch(() => undefined);
        await client.end().catch(() => undefined);
        this.setMode('poll', 'notifications do not reach a listening connection on this database (PGlite)');
        return;
      }
      this.retryMs = 1000;
      this.setMode('listen');
      this.options.onListening();
    } catch (error) {
      onLost(error as Error);
    }
  }

  private lost(client: Client, error?: Error): void {
    if (this.client === client) this.client = undefined;
    client.end().catch(() => undefined);
    if (this.stopped || this.unsupported) return;
    this.setMode('poll', `listen connection lost${error ? `: ${error.message}` : ''}; retrying in ${this.retryMs} ms`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  private async probe(): Promise<boolean> {
    const payload = `probe ${randomUUID()}`;
    const arrived = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.options.probeTimeoutMs ?? 3000);
      timer.unref();
      this.probes.set(payload, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    try {
      await this.options.notify(INFERENCE_EVENTS_CHANNEL, payload);
      return await arrived;
    } finally {
      this.probes.delete(payload);
    }
  }

  private received(message: Notification): void {
    if (message.channel !== INFERENCE_EVENTS_CHANNEL) return;
    const probe = this.probes.get(message.payload ?? '');
    if (probe) return probe();
    const event = parseEventNotification(message.payload);
    if (event) this.options.onEvent(event.inferenceId, event.seq);
  }

  private setMode(mode: NotificationMode, reason?: string): void {
    if (this.mode === mode || this.stopped) return;
    const previous = this.mode;
    this.mode = mode;
    if (mode === 'listen') this.options.logger.log('live events: listening for notifications');
    else if (mode === 'poll' && reason && previous === 'listen')
      this.options.logger.warn(`live events: polling (${reason})`);
    else if (mode === 'poll' && reason) this.options.logger.log(`live events: polling (${reason})`);
  }
}
