import { Controller, Get, Module, type OnModuleDestroy, type OnModuleInit, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { NextFunction, Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import {
  httpRequestDuration,
  httpRequests,
  metricsRegistry,
  registerInferenceGauge,
  unregisterInferenceGauge,
} from '../../platform/metrics/metrics';
import { Public } from '../auth/public.decorator';
import { ApiRawResponse } from '../openapi/response-schemas';

/**
 * Express middleware counting every response by method, route template (never the raw URL, which would
 * make one series per id) and status. Installed before the routes so 401s and 404s are counted too.
 */
export function httpMetricsMiddleware(request: Request, response: Response, next: NextFunction): void {
  const stop = httpRequestDuration.startTimer();
  response.once('finish', () => {
    const routePath = (request as Request & { route?: { path?: string } }).route?.path;
    const labels = {
      method: request.method,
      route: routePath ? `${request.baseUrl ?? ''}${routePath}` : 'unmatched',
      status: String(response.statusCode),
    };
    httpRequests.inc(labels);
    stop(labels);
  });
  next();
}

@ApiTags('operations')
@Public()
@Controller('metrics')
export class MetricsController {
  @Get()
  @ApiOperation({
    summary: 'Prometheus metrics of the API process (and of its in-process worker)',
    description: 'Text exposition format. No API key: expose it only to the monitoring network.',
  })
  @ApiRawResponse(200, 'text/plain', { description: 'Prometheus text exposition format' })
  async metrics(@Res() response: Response): Promise<void> {
    const body = await metricsRegistry.metrics();
    response.setHeader('Content-Type', metricsRegistry.contentType);
    response.send(body);
  }
}

@Module({ controllers: [MetricsController] })
export class MetricsModule implements OnModuleInit, OnModuleDestroy {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  onModuleInit(): void {
    registerInferenceGauge(this.dataSource);
  }

  onModuleDestroy(): void {
    unregisterInferenceGauge();
  }
}
