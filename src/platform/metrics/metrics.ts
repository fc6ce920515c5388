import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DataSource } from 'typeorm';
import { INFERENCE_STATUSES } from '../../../workflows/contract/status';

/**
 * Prometheus metrics of this process, served at GET /metrics (API process) or on METRICS_PORT (standalone
 * worker). One registry per process, created on first import; activities record through the functions
 * below so they never touch prom-client directly. Names are documented in README.md "Metrics".
 */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: 'geo_' });

// Seconds; spans a fast projection write up to a long model run.
const STEP_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const httpRequests = new Counter({
  name: 'geo_http_requests_total',
  help: 'HTTP requests answered by the API, by method, route template and status code',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [metricsRegistry],
});

export const httpRequestDuration = new Histogram({
  name: 'geo_http_request_duration_seconds',
  help: 'HTTP request duration in seconds, by method, route template and status code',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: HTTP_BUCKETS,
  registers: [metricsRegistry],
});

const tasksProcessed = new Counter({
  name: 'geo_tasks_processed_total',
  help: 'Inference tasks that reached a final status (FINISHED, FAILED, STOPPED)',
  labelNames: ['status'] as const,
  registers: [metricsRegistry],
});

const stepsProcessed = new Counter({
  name: 'geo_steps_processed_total',
  help: 'Pipeline steps that reached a final status, by step and status',
  labelNames: ['step', 'status'] as const,
  registers: [metricsRegistry],
});

const stepDuration = new Histogram({
  name: 'geo_step_duration_seconds',
  help: 'Wall time of a pipeline step from start to its final status (all attempts), by step and status',
  labelNames: ['step', 'status'] as const,
  buckets: STEP_BUCKETS,
  registers: [metricsRegistry],
});

const stepErrors = new Counter({
  name: 'geo_step_errors_total',
  help: 'Pipeline steps that FAILED, by step',
  labelNames: ['step'] as const,
  registers: [metricsRegistry],
});

const webhookAttempts = new Counter({
  name: 'geo_webhook_attempts_total',
  help: 'Webhook delivery attempts by outcome: delivered, failed (will be retried), rejected (not retried)',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

const webhookDuration = new Histogram({
  name: 'geo_webhook_attempt_duration_seconds',
  help: 'Duration of one webhook delivery attempt in seconds',
  buckets: HTTP_BUCKETS,
  registers: [metricsRegistry],
});

const modelTiles = new Counter({
  name: 'geo_model_tiles_total',
  help: 'Model tiles computed by model-inference, by model and the onnxruntime execution provider that ran them (cuda, cpu)',
  labelNames: ['model', 'provider'] as const,
  registers: [metricsRegistry],
});

const modelSegmentDuration = new Histogram({
  name: 'geo_model_segment_duration_seconds',
  help: 'Wall time of the model over one input (all its tiles), by the execution provider that ran it',
  labelNames: ['provider'] as const,
  buckets: STEP_BUCKETS,
  registers: [metricsRegistry],
});

/** One input segmented by a model on `provider` (the execution provider actually used). */
export function recordModelSegmented(model: string, provider: string, tiles: number, durationSeconds: number): void {
  modelTiles.inc({ model, provider }, tiles);
  if (Number.isFinite(durationSeconds) && durationSeconds >= 0)
    modelSegmentDuration.observe({ provider }, durationSeconds);
}

/** A step reached FINISHED, FAILED or STOPPED; durationSeconds when both timestamps are known. */
export function recordStepFinished(step: string, status: string, durationSeconds?: number): void {
  stepsProcessed.inc({ step, status });
  if (status === 'FAILED') stepErrors.inc({ step });
  if (durationSeconds !== undefined && Number.isFinite(durationSeconds) && durationSeconds >= 0)
    stepDuration.observe({ step, status }, durationSeconds);
}

/** A task reached FINISHED, FAILED or STOPPED. */
export function recordTaskFinished(status: string): void {
  tasksProcessed.inc({ status });
}

export type WebhookOutcome = 'delivered' | 'failed' | 'rejected';

export function recordWebhookAttempt(outcome: WebhookOutcome, durationSeconds?: number): void {
  webhookAttempts.inc({ outcome });
  if (durationSeconds !== undefined) webhookDuration.observe(durationSeconds);
}

let inferenceGauge: Gauge<'status'> | undefined;

/**
 * `geo_inferences{status}`: inferences per status, read from the database at scrape time, so it is
 * right whichever process ran them. Registered by the API process (it has the DataSource).
 */
export function registerInferenceGauge(dataSource: DataSource): void {
  metricsRegistry.removeSingleMetric('geo_inferences');
  inferenceGauge = new Gauge({
    name: 'geo_inferences',
    help: 'Inferences by status (from the database at scrape time)',
    labelNames: ['status'] as const,
    registers: [metricsRegistry],
    async collect() {
      const rows: Array<{ status: string; count: string }> = await dataSource.query(
        'SELECT status, count(*)::text AS count FROM inferences GROUP BY status',
      );
      for (const status of INFERENCE_STATUSES) this.set({ status }, 0);
      for (const row of rows) this.set({ status: row.status }, Number(row.count));
    },
  });
}

export function unregisterInferenceGauge(): void {
  if (inferenceGauge) metricsRegistry.removeSingleMetric('geo_inferences');
  inferenceGauge = undefined;
}

const processorRuns = new Counter({
  name: 'geo_processor_runs_total',
  help: 'Tasks a lifecycle generic processor processed on this worker, by processor id and outcome (ok, failed)',
  labelNames: ['processor', 'outcome'] as const,
  registers: [metricsRegistry],
});

const processorFailures = new Counter({
  name: 'geo_processor_failures_total',
  help: 'Lifecycle generic processor failures, by processor id and kind (setup, validation, process, crash)',
  labelNames: ['processor', 'kind'] as const,
  registers: [metricsRegistry],
});

const processorSetupSeconds = new Histogram({
  name: 'geo_processor_setup_seconds',
  help: "Wall time of a lifecycle generic processor's setup() in a fresh warm process, by processor id",
  labelNames: ['processor'] as const,
  buckets: STEP_BUCKETS,
  registers: [metricsRegistry],
});

const processorProcessSeconds = new Histogram({
  name: 'geo_processor_process_seconds',
  help: 'Wall time of one call to a warm lifecycle generic processor (one task, or a batch), by processor id',
  labelNames: ['processor'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [metricsRegistry],
});

const processorsWarm = new Gauge({
  name: 'geo_processor_warm_processes',
  help: 'Warm lifecycle generic processor processes on this worker, by processor id',
  labelNames: ['processor'] as const,
  registers: [metricsRegistry],
});

export function recordProcessorSetup(processor: string, ok: boolean, seconds: number): void {
  if (ok) {
    processorSetupSeconds.observe({ processor }, seconds);
    processorsWarm.inc({ processor });
  } else processorFailures.inc({ processor, kind: 'setup' });
}

export function recordProcessorCall(
  processor: string,
  seconds: number,
  outcomes: Array<{ ok: boolean; kind?: 'validation' | 'process' }>,
): void {
  processorProcessSeconds.observe({ processor }, seconds);
  for (const outcome of outcomes) {
    processorRuns.inc({ processor, outcome: outcome.ok ? 'ok' : 'failed' });
    if (!outcome.ok) processorFailures.inc({ processor, kind: outcome.kind ?? 'process' });
  }
}

export function recordProcessorExit(processor: string, crashed: boolean): void {
  processorsWarm.dec({ processor });
  if (crashed) processorFailures.inc({ processor, kind: 'crash' });
}
