import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/public.decorator';
import { HealthService } from './health.service';
import { ApiJsonResponse } from '../openapi/response-schemas';

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
export class HealthController {
  constructor(private readonly checks: HealthService) {}

  @Get()
  @ApiOperation({ summary: 'Readiness (same as /api/health/ready; kept for existing probes)' })
  @ApiJsonResponse(200, 'Readiness', 'every dependency answers', readyExample)
  @ApiJsonResponse(503, 'NotReady', 'a dependency is down', downExample)
  health(@Res({ passthrough: true }) response: Response) {
    return this.ready(response);
  }

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process serves HTTP (checks no dependency)' })
  @ApiJsonResponse(200, 'Liveness', 'the process answers', { status: 'ok', uptime_seconds: 42 })
  live() {
    return { status: 'ok', uptime_seconds: Math.round(process.uptime()) };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: PostgreSQL, Temporal and object storage, each with its latency' })
  @ApiJsonResponse(200, 'Readiness', 'every dependency answers', readyExample)
  @ApiJsonResponse(503, 'NotReady', 'a dependency is down', downExample)
  async ready(@Res({ passthrough: true }) response: Response) {
    const { httpStatus, body } = await this.checks.readiness();
    response.status(httpStatus);
    return body;
  }
}
