import { Controller, Get, Inject, type OnModuleDestroy, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { Connection } from '@temporalio/client';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import type { ObjectStore } from '../../platform/storage/object-store';
import { OBJECT_STORE } from '../storage.module';
import { Public } from '../auth/public.decorator';

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

const checksExample = {
  database: { status: 'up', latency_ms: 2 },
  temporal: { status: 'up', latency_ms: 3 },
  object_storage: { status: 'up', latency_ms: 5 },
};
const readyExample = { status: 'ok', checks: checksExample };
const downExample = {
  statusCode: 503,
  error: 'Service Unavailable',
  message: 'not ready: object_storage down (connect ECONNREFUSED 127.0.0.1:9000)',
  status: 'unavailable',
  down: ['object_storage'],
  checks: {
    ...checksExample,
    object_storage: { status: 'down', latency_ms: 4, error: 'connect ECONNREFUSED 127.0.0.1:9000' },
  },
};

/**
 * Liveness (the process answers) and readiness (PostgreSQL, Temporal and object storage answer, each
 * with its latency); 503 naming whichever is down and why. No API key: load balancers and orchestrators call it.
 */
@ApiTags('operations')
@Public()
@Controller('api/health')
export class HealthController implements OnModuleDestroy {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Its own connection without the client's retry interceptor: a readiness probe reports what it sees
   * now, and retries of a failed call would outlive the request (and the connection, on shutdown).
   */
  private probeConnection?: Connection;

  private async temporalProbe(): Promise<unknown> {
    this.probeConnection ??= Connection.lazy({ address: this.config.TEMPORAL_ADDRESS, interceptors: [] });
    const connection = this.probeConnection;
    return connection.withDeadline(Date.now() + PROBE_TIMEOUT_MS, () => connection.workflowService.getSystemInfo({}));
  }

  async onModuleDestroy(): Promise<void> {
    await this.probeConnection?.close();
  }

  @Get()
  @ApiOperation({ summary: 'Readiness (same as /api/health/ready; kept for existing probes)' })
  @ApiOkResponse({ description: 'every dependency answers', schema: { example: readyExample } })
  @ApiServiceUnavailableResponse({ description: 'a dependency is down', schema: { example: downExample } })
  health(@Res({ passthrough: true }) response: Response) {
    return this.ready(response);
  }

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process serves HTTP (checks no dependency)' })
  @ApiOkResponse({ schema: { example: { status: 'ok', uptime_seconds: 42 } } })
  live() {
    return { status: 'ok', uptime_seconds: Math.round(process.uptime()) };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: PostgreSQL, Temporal and object storage, each with its latency' })
  @ApiOkResponse({ description: 'every dependency answers', schema: { example: readyExample } })
  @ApiServiceUnavailableResponse({ description: 'a dependency is down', schema: { example: downExample } })
  async ready(@Res({ passthrough: true }) response: Response) {
    const [database, temporal, objectStorage] = await Promise.all([
      probe(() => this.dataSource.query('SELECT 1')),
      probe(() => this.temporalProbe()),
      probe(() => this.store.list('health-probe/')),
    ]);
    const checks = { database, temporal, object_storage: objectStorage };
    const down = Object.entries(checks).filter(([, check]) => check.status === 'down');
    if (down.length > 0) {
      const reasons = down.map(([name, check]) => `${name} down (${check.error})`).join(', ');
      // Answered, not thrown: a dependency being down is a state to report, not a server bug to log with a stack.
      response.status(503);
      return {
        statusCode: 503,
        error: 'Service Unavailable',
        message: `not ready: ${reasons}`,
        status: 'unavailable',
        down: down.map(([name]) => name),
        checks,
      };
    }
    return { status: 'ok', checks };
  }
}
