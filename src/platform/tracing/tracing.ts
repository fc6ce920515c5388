import { context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { NextFunction, Request, Response } from 'express';
import type { AppConfig } from '../config/config';

/**
 * OpenTelemetry tracing across API -> workflow -> activities, on only when an OTLP endpoint is configured
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTLP over HTTP): an API request's span is the parent of the workflow start
 * (Temporal's client interceptor), which carries the context into the workflow and its activities (worker
 * interceptors, pipeline-worker.ts).
 */
export interface Tracing {
  provider: NodeTracerProvider;
  spanProcessor: SpanProcessor;
  resource: Resource;
}

let current: Tracing | undefined;

export function tracingEnabled(config: AppConfig): boolean {
  return Boolean(config.OTEL_EXPORTER_OTLP_ENDPOINT);
}

/** Starts the process's tracer provider once (idempotent); undefined when tracing is off. */
export function startTracing(config: AppConfig): Tracing | undefined {
  if (!tracingEnabled(config)) return undefined;
  if (current) return current;
  const resource = new Resource({ 'service.name': config.OTEL_SERVICE_NAME });
  const exporter = new OTLPTraceExporter({
    url: `${config.OTEL_EXPORTER_OTLP_ENDPOINT!.replace(/\/$/, '')}/v1/traces`,
  });
  const spanProcessor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  current = { provider, spanProcessor, resource };
  return current;
}

/** Sends what is buffered (shutdown, tests). */
export async function flushTracing(): Promise<void> {
  await current?.spanProcessor.forceFlush();
}

export function temporalClientInterceptors(config: AppConfig) {
  return tracingEnabled(config) ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : undefined;
}

/** One span per HTTP request, active while the request is handled (so a workflow start becomes its child). */
export function requestSpanMiddleware(request: Request, response: Response, next: NextFunction): void {
  const tracer = trace.getTracer('geo-inference-api');
  const span = tracer.startSpan(`${request.method} ${request.path}`, {
    attributes: { 'http.method': request.method, 'http.target': request.path },
  });
  response.on('finish', () => {
    span.setAttribute('http.status_code', response.statusCode);
    span.end();
  });
  context.with(trace.setSpan(context.active(), span), next);
}
