import { Controller, Get, Inject } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Client } from '@temporalio/client';
import type { DataSource } from 'typeorm';
import { ApiError } from '../common/api-error';
import type { ObjectStore } from '../storage/object-store';
import { OBJECT_STORE } from '../storage/storage.module';
import { TEMPORAL_CLIENT } from '../temporal/temporal.module';

async function probe(check: () => Promise<unknown>): Promise<{ status: 'up' | 'down'; error?: string }> {
  try {
    await check();
    return { status: 'up' };
  } catch (error) {
    return { status: 'down', error: (error as Error).message };
  }
}

/** Liveness and readiness: 503 naming whichever dependency is down. */
@Controller('api/health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
  ) {}

  @Get()
  async health() {
    const checks = {
      database: await probe(() => this.dataSource.query('SELECT 1')),
      temporal: await probe(() => this.temporal.workflowService.getSystemInfo({})),
      object_storage: await probe(() => this.store.list('health-probe/')),
    };
    const down = Object.entries(checks).filter(([, check]) => check.status === 'down').map(([name]) => name);
    if (down.length > 0) throw new ApiError(503, `not ready: ${down.join(', ')} down`, undefined, checks);
    return { status: 'ok', checks };
  }
}
