import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { QueuesService } from './queues.service';
import { ApiJsonResponse } from '../openapi/response-schemas';

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
  constructor(private readonly queues: QueuesService) {}

  @Get('status')
  @ApiOperation({
    summary: 'Pollers (worker identity, last access time) and approximate backlog of every task queue the app uses',
    description:
      'Queues from TEMPORAL_TASK_QUEUE and TEMPORAL_FETCH/MODEL/PROCESSOR_TASK_QUEUE. The backlog needs a server that reports task-queue stats (1.25+); otherwise `backlog.supported` is false with the reason.',
  })
  @ApiJsonResponse(200, 'QueueStatus', undefined, example)
  status() {
    return this.queues.status();
  }
}
