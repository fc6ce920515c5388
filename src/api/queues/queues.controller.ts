import { Controller, Get, Inject, Module } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import { TEMPORAL_CLIENT } from '../temporal.module';

type TaskQueueType = 'workflow' | 'activity';
const PROTO_TYPE: Record<TaskQueueType, temporal.api.enums.v1.TaskQueueType> = {
  workflow: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  activity: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
};

type Stats = temporal.api.taskqueue.v1.ITaskQueueStats;
type Poller = temporal.api.taskqueue.v1.IPollerInfo;

export interface Backlog {
  supported: boolean;
  approximate_backlog_count?: number;
  approximate_backlog_age_seconds?: number;
  tasks_add_rate?: number;
  tasks_dispatch_rate?: number;
  /** Which DescribeTaskQueue call answered, or why there is no figure. */
  source?: 'stats' | 'enhanced';
  reason?: string;
}

const toNumber = (value: unknown): number => (value === null || value === undefined ? 0 : Number(String(value)));

function timestampIso(value: temporal.api.taskqueue.v1.IPollerInfo['lastAccessTime']): string | null {
  if (!value) return null;
  return new Date(toNumber(value.seconds) * 1000 + Math.floor(toNumber(value.nanos) / 1e6)).toISOString();
}

function backlogOf(stats: Stats, source: 'stats' | 'enhanced'): Backlog {
  const age = stats.approximateBacklogAge;
  return {
    supported: true,
    source,
    approximate_backlog_count: toNumber(stats.approximateBacklogCount),
    approximate_backlog_age_seconds: age ? toNumber(age.seconds) + toNumber(age.nanos) / 1e9 : 0,
    tasks_add_rate: stats.tasksAddRate ?? 0,
    tasks_dispatch_rate: stats.tasksDispatchRate ?? 0,
  };
}

const example = {
  namespace: 'default',
  queues: [
    {
      name: 'geo-inference',
      roles: ['workflows', 'fetch', 'model', 'processor'],
      config_vars: ['TEMPORAL_TASK_QUEUE'],
      types: {
        workflow: {
          pollers: [
            { identity: '12345@worker-1', last_access_time: '2026-01-21T10:30:00.000Z', rate_per_second: 100000 },
          ],
          backlog: {
            supported: true,
            source: 'stats',
            approximate_backlog_count: 0,
            approximate_backlog_age_seconds: 0,
            tasks_add_rate: 0.2,
            tasks_dispatch_rate: 0.2,
          },
        },
        activity: {
          pollers: [],
          backlog: {
            supported: true,
            source: 'stats',
            approximate_backlog_count: 3,
            approximate_backlog_age_seconds: 12.5,
            tasks_add_rate: 1,
            tasks_dispatch_rate: 0,
          },
        },
      },
    },
  ],
};

/**
 * Pollers and backlog of every task queue this deployment uses, from Temporal's DescribeTaskQueue:
 * how many workers serve each step kind and how much work waits for them.
 */
@ApiTags('operations')
@Controller('api/queues')
export class QueuesController {
  constructor(
    @Inject(TEMPORAL_CLIENT) private readonly client: Client,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('status')
  @ApiOperation({
    summary: 'Pollers (worker identity, last access time) and approximate backlog of every task queue the app uses',
    description:
      'Queues from TEMPORAL_TASK_QUEUE and TEMPORAL_FETCH/MODEL/PROCESSOR_TASK_QUEUE. The backlog needs a server that reports task-queue stats (1.25+); otherwise `backlog.supported` is false with the reason.',
  })
  @ApiOkResponse({ schema: { example } })
  async status() {
    const queues = new Map<string, { roles: string[]; vars: string[] }>();
    const varOf: Record<string, string> = {
      workflows: 'TEMPORAL_TASK_QUEUE',
      fetch: 'TEMPORAL_FETCH_TASK_QUEUE',
      model: 'TEMPORAL_MODEL_TASK_QUEUE',
      processor: 'TEMPORAL_PROCESSOR_TASK_QUEUE',
    };
    for (const [role, name] of Object.entries(this.config.taskQueues)) {
      const entry = queues.get(name) ?? { roles: [], vars: [] };
      entry.roles.push(role);
      // A step queue left unset falls back to TEMPORAL_TASK_QUEUE: name only the variables actually set.
      if (role === 'workflows' || this.config[varOf[role] as keyof AppConfig]) entry.vars.push(varOf[role]);
      queues.set(name, entry);
    }
    const results = await Promise.all(
      [...queues].map(async ([name, entry]) => {
        // Workflow tasks only ever go to the workflows queue; every queue may carry activity tasks.
        const types: TaskQueueType[] = entry.roles.includes('workflows') ? ['workflow', 'activity'] : ['activity'];
        const described = await Promise.all(
          types.map(async (type) => [type, await this.describe(name, type)] as const),
        );
        return { name, roles: entry.roles, config_vars: entry.vars, types: Object.fromEntries(described) };
      }),
    );
    return { namespace: this.config.TEMPORAL_NAMESPACE, queues: results };
  }

  private async describe(
    name: string,
    type: TaskQueueType,
  ): Promise<{ pollers: Array<Record<string, unknown>>; backlog: Backlog }> {
    const service = this.client.workflowService;
    const namespace = this.config.TEMPORAL_NAMESPACE;
    const taskQueue = { name, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL };
    // Servers 1.28+ answer `stats` in the default mode; older ones (1.25-1.27) only in the enhanced mode.
    const response = await service.describeTaskQueue({
      namespace,
      taskQueue,
      taskQueueType: PROTO_TYPE[type],
      reportStats: true,
    });
    const pollers = (response.pollers ?? []).map((poller: Poller) => ({
      identity: poller.identity ?? '',
      last_access_time: timestampIso(poller.lastAccessTime),
      rate_per_second: poller.ratePerSecond ?? null,
    }));
    if (response.stats) return { pollers, backlog: backlogOf(response.stats, 'stats') };
    let backlog: Backlog;
    try {
      const enhanced = await service.describeTaskQueue({
        namespace,
        taskQueue,
        apiMode: temporal.api.enums.v1.DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
        versions: { unversioned: true },
        taskQueueTypes: [PROTO_TYPE[type]],
        reportStats: true,
      });
      const stats = Object.values(enhanced.versionsInfo ?? {})
        .map((info) => info.typesInfo?.[PROTO_TYPE[type]]?.stats)
        .find((value): value is Stats => !!value);
      backlog = stats
        ? backlogOf(stats, 'enhanced')
        : { supported: false, reason: 'the server returned no task queue stats' };
    } catch (error) {
      backlog = {
        supported: false,
        reason: `this Temporal server does not report task queue backlog: ${(error as Error).message}`,
      };
    }
    return { pollers, backlog };
  }
}

@Module({ controllers: [QueuesController] })
export class QueuesModule {}
