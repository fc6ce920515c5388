/**
 * Which errors mean "one of our own services (object storage, PostgreSQL) is unreachable or restarting right
 * now": retrying later fixes them, and they say nothing about the input. Activities retry them for minutes
 * without spending a step's attempts (activities/runtime/infrastructure-retry.ts); the API answers them with
 * 503 and Retry-After (src/api/http/all-exceptions.filter.ts).
 */

/** The service an infrastructure error came from, when the error says so. */
export type Dependency = 'database' | 'object storage' | 'network';

/** Socket-level failures: a service that is down, restarting, or dropped the connection. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** S3 error codes of a service that is overloaded or starting (MinIO answers these while it restarts). */
const STORAGE_CODES = new Set([
  'SlowDown',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'XMinioServerNotInitialized',
  'XMinioStorageFull',
]);

/**
 * PostgreSQL SQLSTATEs of a server that is down, restarting or out of connections: class 08 (connection
 * exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 (too many connections).
 */
function isTransientSqlState(code: string): boolean {
  return /^08[0-9A-Z]{3}$/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code);
}

/** What node-postgres says (without a code) when a connection breaks or cannot be opened in time. */
const PG_CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /Client has encountered a connection error/,
  /Connection ended unexpectedly/,
  /^the database system is (starting up|shutting down|in recovery mode)/,
];

/** The errors chained from `error` (cause, driverError, AggregateError members), the error first. */
function chain(error: unknown): unknown[] {
  const seen: unknown[] = [];
  const queue = [error];
  while (queue.length > 0 && seen.length < 16) {
    const current = queue.shift();
    if (!current || typeof current !== 'object' || seen.includes(current)) continue;
    seen.push(current);
    const record = current as { cause?: unknown; driverError?: unknown; errors?: unknown };
    queue.push(record.cause, record.driverError);
    if (Array.isArray(record.errors)) queue.push(...(record.errors as unknown[]));
  }
  return seen;
}

function dependencyOf(error: object): Dependency | undefined {
  const { code, message, name } = error as { code?: unknown; message?: unknown; name?: unknown };
  const text = typeof message === 'string' ? message : '';
  if (typeof code === 'string') {
    if (name === 'QueryFailedError' || /^[0-9A-Z]{5}$/.test(code)) {
      if (isTransientSqlState(code)) return 'database';
    }
    if (STORAGE_CODES.has(code)) return 'object storage';
    if (NETWORK_CODES.has(code)) return 'network';
  }
  if (PG_CONNECTION_MESSAGES.some((pattern) => pattern.test(text))) return 'database';
  return undefined;
}

/**
 * The dependency behind a transient infrastructure error, or undefined for any other error (bad input,
 * a bug, a failure the domain code already classified). The first recognised link of the chain decides,
 * and a more precise one (database, object storage) wins over a bare socket error found with it.
 */
export function infrastructureDependency(error: unknown): Dependency | undefined {
  let found: Dependency | undefined;
  for (const link of chain(error)) {
    // A failure the domain code typed (StepFailure, ApplicationFailure with a type) was classified on purpose.
    if (isClassifiedFailure(link)) return found;
    const dependency = dependencyOf(link as object);
    if (dependency && dependency !== 'network') return dependency;
    found ??= dependency;
  }
  return found;
}

/** Whether `error` is a transient infrastructure error (see infrastructureDependency). */
export function isInfrastructureError(error: unknown): boolean {
  return infrastructureDependency(error) !== undefined;
}

function isClassifiedFailure(error: unknown): boolean {
  const record = error as { type?: unknown; nonRetryable?: unknown; name?: unknown };
  return (
    typeof record.nonRetryable === 'boolean' &&
    typeof record.type === 'string' &&
    record.type.length > 0 &&
    record.name !== 'Error'
  );
}
