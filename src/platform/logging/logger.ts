import pino, { type DestinationStream, type Level, type Logger } from 'pino';

/** LOG_LEVEL uses Nest's names; pino's equivalents. */
export type AppLogLevel = 'error' | 'warn' | 'log' | 'debug' | 'verbose';
const PINO_LEVELS: Record<AppLogLevel, Level> = {
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

export function pinoLevel(level: AppLogLevel | undefined): Level {
  return PINO_LEVELS[level ?? 'log'] ?? 'info';
}

/** The most verbose level of a Nest logger option (['error', 'warn'] -> 'warn'); false -> silent. */
export function pinoLevelOfNestLevels(levels: false | AppLogLevel[]): Level | 'silent' {
  if (levels === false || levels.length === 0) return 'silent';
  const order: AppLogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error'];
  return pinoLevel(order.find((level) => levels.includes(level)));
}

let destination: DestinationStream | undefined;
let root: Logger | undefined;

function build(level: Level): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'geo-inference', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Never write credentials to logs, whatever a caller passes as bindings.
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        '*.webhook_secret',
        '*.webhookSecret',
        'authorization',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * The process's JSON logger (one line per entry on stdout). Created on first use from LOG_LEVEL; the API
 * (nestjs-pino), the worker entry points and the activity logging interceptor all log through it.
 */
export function rootLogger(): Logger {
  root ??= build(pinoLevel(process.env.LOG_LEVEL as AppLogLevel | undefined));
  return root;
}

/** Re-creates the root logger at `level` (entry points call it after loading the configuration). */
export function configureLogging(level: AppLogLevel): Logger {
  root = build(pinoLevel(level));
  return root;
}

/** Sends every later log line to `stream` instead of stdout (tests read the lines back); undefined restores stdout. */
export function setLogDestination(stream: DestinationStream | undefined, level?: AppLogLevel): void {
  destination = stream;
  root = build(level ? pinoLevel(level) : pinoLevel(process.env.LOG_LEVEL as AppLogLevel | undefined));
}

/**
 * Nest's static Logger (used before an app exists, e.g. by the launcher) writing through pino, so even
 * start-up lines are JSON. The app replaces it with nestjs-pino's logger once created.
 */
export class PinoNestLogger {
  constructor(private readonly logger: Logger = rootLogger()) {}
  private write(level: Level, message: unknown, context: unknown[]): void {
    const last = context[context.length - 1];
    this.logger[level]({ context: typeof last === 'string' ? last : undefined }, String(message));
  }
  log(message: unknown, ...context: unknown[]): void {
    this.write('info', message, context);
  }
  error(message: unknown, ...context: unknown[]): void {
    this.write('error', message, context);
  }
  warn(message: unknown, ...context: unknown[]): void {
    this.write('warn', message, context);
  }
  debug(message: unknown, ...context: unknown[]): void {
    this.write('debug', message, context);
  }
  verbose(message: unknown, ...context: unknown[]): void {
    this.write('trace', message, context);
  }
  fatal(message: unknown, ...context: unknown[]): void {
    this.write('fatal', message, context);
  }
}
