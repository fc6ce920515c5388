import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Gauge } from 'prom-client';
import type { DataSource } from 'typeorm';
import type { InferenceEventType } from '../../../workflows/contract/events';
import { taskOutputUrl } from '../../../workflows/contract/links';
import type { AppConfig } from '../../platform/config/config';
import type { EventsConfig } from '../../platform/config/events-config';
import { EventNotifications, type NotificationMode } from '../../platform/database/event-notifications';
import { readInferenceEvents, type StoredInferenceEvent } from '../../platform/database/inference-events';
import { metricsRegistry } from '../../platform/metrics/metrics';
import { APP_CONFIG } from '../config.module';
import { TilesService } from '../tiles/tiles.service';
import { TokenGenerations } from '../auth/token-generations';

export const EVENTS_CONFIG = 'EVENTS_CONFIG';

/** One event as it goes on the wire: the whole SSE message, formatted once for every subscriber. */
export interface OutgoingEvent {
  seq: number;
  type: InferenceEventType;
  text: string;
  /** Inference-level events: whether the inference has ended as of this event. */
  ended?: boolean;
}

const FINAL = new Set(['COMPLETED', 'FAILED', 'STOPPED']);

export interface EventSink {
  /**
   * Events after the subscriber's cursor, in seq order; `more`: a full page was read, further events may be
   * stored already. Returns false when the client's send buffer is full: nothing more is delivered until
   * Subscription.resume().
   */
  deliver(events: OutgoingEvent[], more: boolean): boolean;
  keepAlive(): void;
  /** The process is shutting down. */
  close(): void;
}

export interface Subscription {
  unsubscribe(): void;
  resume(): void;
}

interface Subscriber {
  cursor: number;
  paused: boolean;
  sink: EventSink;
}

interface Channel {
  inferenceId: string;
  subscribers: Set<Subscriber>;
  fetching: boolean;
  again: boolean;
}

const PAGE_SIZE = 500;
const RETRY_MS = 1000;

const openStreams = new Gauge({
  name: 'geo_event_streams_open',
  help: 'Open live event streams (GET /api/v2/inference/{id}/events) of this API process',
  registers: [metricsRegistry],
});

/**
 * Fans the events of the database out to this process's open streams: one LISTEN connection for the process
 * (opened with the first stream), one reader per inference with subscribers, reading every event once for all
 * of them from the lowest cursor. Without notifications (connection lost, PGlite) open streams poll; with them
 * they are also re-read at each keep-alive, in case one was missed.
 */
@Injectable()
export class InferenceEventsHub implements OnModuleDestroy {
  private readonly logger = new Logger('InferenceEvents');
  private readonly channels = new Map<string, Channel>();
  private notifications?: EventNotifications;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly appConfig: AppConfig,
    @Inject(EVENTS_CONFIG) readonly config: EventsConfig,
    private readonly tiles: TilesService,
    private readonly generations: TokenGenerations,
  ) {}

  get mode(): NotificationMode {
    return this.notifications?.mode ?? 'starting';
  }

  subscribe(inferenceId: string, afterSeq: number, sink: EventSink): Subscription {
    this.start();
    let channel = this.channels.get(inferenceId);
    if (!channel) {
      channel = { inferenceId, subscribers: new Set(), fetching: false, again: false };
      this.channels.set(inferenceId, channel);
    }
    const subscriber: Subscriber = { cursor: afterSeq, paused: false, sink };
    channel.subscribers.add(subscriber);
    openStreams.inc();
    this.drain(channel);
    const owner = channel;
    return {
      unsubscribe: () => {
        if (!owner.subscribers.delete(subscriber)) return;
        openStreams.dec();
        if (owner.subscribers.size === 0 && this.channels.get(inferenceId) === owner) this.channels.delete(inferenceId);
      },
      resume: () => {
        if (!subscriber.paused) return;
        subscriber.paused = false;
        this.drain(owner);
      },
    };
  }

  onModuleDestroy(): Promise<void> | undefined {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    for (const channel of this.channels.values()) {
      for (const subscriber of channel.subscribers) subscriber.sink.close();
      openStreams.dec(channel.subscribers.size);
      channel.subscribers.clear();
    }
    this.channels.clear();
    return this.notifications?.stop();
  }

  /** Starts listening with the first stream, so processes that serve none hold no extra connection. */
  private start(): void {
    if (this.notifications) return;
    this.notifications = new EventNotifications({
      databaseUrl: this.appConfig.DATABASE_URL!,
      notify: async (channel, payload) => {
        await this.dataSource.query('SELECT pg_notify($1, $2)', [channel, payload]);
      },
      onEvent: (inferenceId, seq) => {
        const channel = this.channels.get(inferenceId);
        if (channel) this.drain(channel, seq);
      },
      onListening: () => this.drainAll(),
      logger: this.logger,
    });
    this.notifications.start();
    const poll = setInterval(() => {
      if (this.mode !== 'listen') this.drainAll();
    }, this.config.EVENTS_POLL_MS);
    const keepAlive = setInterval(() => {
      for (const channel of this.channels.values())
        for (const subscriber of channel.subscribers) subscriber.sink.keepAlive();
      if (this.mode === 'listen') this.drainAll();
      void this.closeDeleted();
    }, this.config.EVENTS_KEEPALIVE_SECONDS * 1000);
    this.timers = [poll, keepAlive];
    for (const timer of this.timers) timer.unref();
  }

  /** Streams of deleted inferences end (their events went with them, so no inference.end will come). */
  private async closeDeleted(): Promise<void> {
    const ids = [...this.channels.keys()];
    if (ids.length === 0) return;
    try {
      const rows: Array<{ id: string }> = await this.dataSource.query(
        'SELECT id FROM inferences WHERE id = ANY($1::uuid[])',
        [ids],
      );
      const existing = new Set(rows.map((row) => row.id));
      for (const id of ids) {
        if (existing.has(id)) continue;
        for (const subscriber of this.channels.get(id)?.subscribers ?? []) subscriber.sink.close();
      }
    } catch {
      // The database is unreachable: the next tick checks again.
    }
  }

  private drainAll(): void {
    for (const channel of this.channels.values()) this.drain(channel);
  }

  /** Reads the channel's new events; `upTo`: a notified seq, no read when every subscriber has it already. */
  private drain(channel: Channel, upTo?: number): void {
    if (upTo !== undefined && [...channel.subscribers].every((s) => s.paused || s.cursor >= upTo)) return;
    if (channel.fetching) {
      channel.again = true;
      return;
    }
    channel.fetching = true;
    void this.read(channel).finally(() => {
      channel.fetching = false;
    });
  }

  private async read(channel: Channel): Promise<void> {
    try {
      do {
        channel.again = false;
        const active = [...channel.subscribers].filter((subscriber) => !subscriber.paused);
        if (active.length === 0) return;
        const from = Math.min(...active.map((subscriber) => subscriber.cursor));
        const rows = await readInferenceEvents(this.dataSource, channel.inferenceId, from, PAGE_SIZE);
        const more = rows.length === PAGE_SIZE;
        const generation = await this.generations.ofInference(channel.inferenceId);
        const events = rows.map((row) => this.format(row, generation));
        for (const subscriber of active) {
          if (subscriber.paused || !channel.subscribers.has(subscriber)) continue;
          const first = events.findIndex((event) => event.seq > subscriber.cursor);
          if (first === -1) continue;
          const fresh = first === 0 ? events : events.slice(first);
          subscriber.cursor = fresh[fresh.length - 1].seq;
          if (!subscriber.sink.deliver(fresh, more)) subscriber.paused = true;
        }
        if (more) channel.again = true;
      } while (channel.again && channel.subscribers.size > 0);
    } catch (error) {
      this.logger.warn(`live events of inference ${channel.inferenceId}: ${(error as Error).message}; retrying`);
      setTimeout(() => {
        if (channel.subscribers.size > 0) this.drain(channel);
      }, RETRY_MS).unref();
    }
  }

  /** task.output rows hold the task id only: its links (with a fresh tile token) are made when sent. */
  private format(row: StoredInferenceEvent, tokenGeneration: number): OutgoingEvent {
    const at = row.createdAt.toISOString();
    let data: Record<string, unknown> = { ...row.data, at };
    if (row.type === 'task.output') {
      const taskId = String(row.data.task_id);
      data = {
        task_id: taskId,
        output_url: taskOutputUrl(this.appConfig.publicBaseUrl, taskId),
        ...this.tiles.urlTemplate(taskId, tokenGeneration),
        at,
      };
    }
    const ended =
      row.type === 'inference.end'
        ? true
        : row.type === 'inference.status'
          ? FINAL.has(String(row.data.status))
          : undefined;
    return {
      seq: row.seq,
      type: row.type,
      text: `id: ${row.seq}\nevent: ${row.type}\ndata: ${JSON.stringify(data)}\n\n`,
      ended,
    };
  }
}
