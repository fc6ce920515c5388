import { Inject, Injectable } from '@nestjs/common';
import { DatabaseProbe } from '../../platform/database/repositories';
import type { ObjectStore } from '../../platform/storage/object-store';
import { PipelineClient } from '../../pipeline/client';
import { OBJECT_STORE } from '../storage.module';

/** A dependency that does not answer within this long counts as down (probes must not hang). */
export const PROBE_TIMEOUT_MS = 3000;

export interface ComponentCheck {
  status: 'up' | 'down';
  latency_ms: number;
  error?: string;
}

async function probe(check: () => Promise<unknown>): Promise<ComponentCheck> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      }),
    ]);
    return { status: 'up', latency_ms: Math.round(performance.now() - started) };
  } catch (error) {
    return {
      status: 'down',
      latency_ms: Math.round(performance.now() - started),
      error: (error as Error).message || String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}

export interface Readiness {
  httpStatus: 200 | 503;
  body: Record<string, unknown>;
}

/** Readiness of the API: whether PostgreSQL, Temporal and object storage answer, each with its latency. */
@Injectable()
export class HealthService {
  constructor(
    private readonly database: DatabaseProbe,
    private readonly pipeline: PipelineClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
  ) {}

  async readiness(): Promise<Readiness> {
    const [database, temporal, objectStorage] = await Promise.all([
      probe(() => this.database.ping()),
      probe(() => this.pipeline.ping(PROBE_TIMEOUT_MS)),
      probe(() => this.store.list('health-probe/')),
    ]);
    const checks = { database, temporal, object_storage: objectStorage };
    const down = Object.entries(checks).filter(([, check]) => check.status === 'down');
    if (down.length > 0) {
      const reasons = down.map(([name, check]) => `${name} down (${check.error})`).join(', ');
      // Answered, not thrown: a dependency being down is a state to report, not a server bug to log with a stack.
      return {
        httpStatus: 503,
        body: {
          statusCode: 503,
          error: 'Service Unavailable',
          message: `not ready: ${reasons}`,
          status: 'unavailable',
          down: down.map(([name]) => name),
          checks,
        },
      };
    }
    return { httpStatus: 200, body: { status: 'ok', checks } };
  }
}
