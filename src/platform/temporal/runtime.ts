import {
  makeTelemetryFilterString,
  Runtime,
  type LogLevel,
  type LogMetadata,
  type Logger as TemporalLogger,
} from '@temporalio/worker';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/config';
import { rootLogger } from '../logging/logger';

const PINO_OF_TEMPORAL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Temporal SDK logger (worker, workflow and activity `log`) writing through pino, so all logs are one JSON stream. */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly logger: Logger) {}
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.logger[PINO_OF_TEMPORAL[level] ?? 'info'](meta ?? {}, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

let installed = false;

/**
 * Installs the Temporal runtime of a process that runs workers or the embedded dev server: SDK logs through
 * pino, core (Rust) logs forwarded at WARN, and when TEMPORAL_METRICS_BIND_ADDRESS is set the SDK's worker
 * metrics (task slots, poll latencies, activity execution latencies...) on a Prometheus endpoint at that
 * address. The runtime is fixed once anything creates it (a NativeConnection, a worker, the dev server), so
 * this must run first; calling it again is a no-op.
 */
export function installTemporalRuntime(config: AppConfig): void {
  if (installed) return;
  try {
    Runtime.install({
      logger: new PinoTemporalLogger(rootLogger().child({ component: 'temporal' })),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
        ...(config.TEMPORAL_METRICS_BIND_ADDRESS
          ? { metrics: { prometheus: { bindAddress: config.TEMPORAL_METRICS_BIND_ADDRESS } } }
          : {}),
      },
    });
    installed = true;
  } catch (error) {
    // The stack would only point here, not at whatever created the runtime first.
    rootLogger().warn(
      `Temporal runtime already created elsewhere (${(error as Error).message}): worker metrics/log settings not applied`,
    );
  }
}
