/**
 * Schemas of the 2xx answers, in the OpenAPI document (components.schemas) so a client generator or a
 * contract test (scripts/fuzz-api.sh: schemathesis checks every answer against them) has something to check.
 * They list what the views (`*-views.ts`, `to*View`) always send; objects stay open to added fields.
 */
import { applyDecorators } from '@nestjs/common';
import { ApiProduces, ApiResponse } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { INFERENCE_STATUSES, TASK_STATUSES } from '../../../workflows/contract/status';
import { modelViewSchema } from '../models/model-view.schema';
import { openApiSchema } from './zod-openapi';

const string: SchemaObject = { type: 'string' };
const dateTime: SchemaObject = { type: 'string', format: 'date-time' };
const uuid: SchemaObject = { type: 'string', format: 'uuid' };
const integer: SchemaObject = { type: 'integer' };
const number: SchemaObject = { type: 'number' };
const boolean: SchemaObject = { type: 'boolean' };
const anyObject: SchemaObject = { type: 'object', additionalProperties: true };
const nullable = (schema: SchemaObject): SchemaObject => ({ ...schema, nullable: true });
const arrayOf = (items: SchemaObject): SchemaObject => ({ type: 'array', items });
const ref = (name: ResponseSchemaName): SchemaObject => ({ $ref: `#/components/schemas/${name}` }) as SchemaObject;

/** An object whose listed properties are all required (the views always send them, null when unknown). */
function object(properties: Record<string, SchemaObject>, optional: string[] = []): SchemaObject {
  return {
    type: 'object',
    properties,
    required: Object.keys(properties).filter((name) => !optional.includes(name)),
  };
}

const list = (item: ResponseSchemaName) => object({ results: arrayOf(ref(item)), total_records: integer });

const stepProgress = object({ done: number, total: nullable(number), unit: string, eta_seconds: nullable(number) });

const pipelineStep = object(
  {
    process_id: string,
    step_number: integer,
    status: { type: 'string', enum: [...TASK_STATUSES] },
    started_at: dateTime,
    finished_at: dateTime,
    message: string,
    result: anyObject,
    progress: stepProgress,
  },
  ['started_at', 'finished_at', 'message', 'result', 'progress'],
);

const dependencyCheck = object(
  { status: { type: 'string', enum: ['up', 'down'] }, latency_ms: number, error: string },
  ['error'],
);

export const RESPONSE_SCHEMAS = {
  Inference: object({
    id: uuid,
    model_display_name: string,
    model_id: uuid,
    description: nullable(string),
    location: nullable(string),
    spatial_domain: anyObject,
    temporal_domain: arrayOf(string),
    maxcc: nullable(integer),
    fine_tuning_id: nullable(string),
    generic_processor_id: nullable(uuid),
    post_processing: nullable(anyObject),
    webhook_url: nullable(string),
    status: { type: 'string', enum: [...INFERENCE_STATUSES] },
    status_message: nullable(string),
    retries: integer,
    tasks_count_total: integer,
    tasks_count_success: integer,
    tasks_count_failed: integer,
    tasks_count_stopped: integer,
    tasks_count_waiting: integer,
    tasks_count_running: integer,
    workflow_id: string,
    temporal_ui_url: string,
    coco_url: nullable(string),
    created_at: dateTime,
    updated_at: dateTime,
    started_at: nullable(dateTime),
    finished_at: nullable(dateTime),
    created_by: string,
  }),
  Task: object(
    {
      task_id: string,
      inference_id: uuid,
      task_index: integer,
      status: { type: 'string', enum: [...TASK_STATUSES] },
      input: anyObject,
      pipeline_steps: arrayOf(pipelineStep),
      output_key: nullable(string),
      message: nullable(string),
      outputs: anyObject,
      created_at: dateTime,
      updated_at: dateTime,
      tile_url_template: nullable(string),
      tile_url_expires_at: dateTime,
      map_url: nullable(string),
    },
    ['tile_url_expires_at'],
  ),
  InferenceTasks: object({
    inference_id: uuid,
    status: { type: 'string', enum: [...INFERENCE_STATUSES] },
    tasks: { type: 'array', items: { $ref: '#/components/schemas/Task' } as SchemaObject },
    total_records: integer,
  }),
  InferenceStopped: object({ id: uuid, status: { type: 'string', enum: ['STOPPING'] }, message: string }),
  InferenceRetried: object({
    id: uuid,
    status: { type: 'string', enum: ['PENDING'] },
    tasks_to_rerun: integer,
    message: string,
  }),
  CocoDataset: object(
    { info: anyObject, images: arrayOf(anyObject), annotations: arrayOf(anyObject), categories: arrayOf(anyObject) },
    ['info'],
  ),
  WebhookDeliveries: object({
    inference_id: uuid,
    webhook_url: nullable(string),
    delivered: boolean,
    results: arrayOf(
      object({
        webhook_id: string,
        event_type: string,
        attempt: integer,
        attempted_at: dateTime,
        duration_ms: integer,
        status_code: nullable(integer),
        error: nullable(string),
        delivered: boolean,
      }),
    ),
    total_records: integer,
  }),
  EventsToken: object({ token: string, expires_at: dateTime, events_url: string }),
  GenericProcessor: object(
    {
      id: uuid,
      name: string,
      description: nullable(string),
      processor_parameters: anyObject,
      processor_file_path: string,
      status: string,
      created_at: dateTime,
      updated_at: dateTime,
      created_by: string,
      processor_presigned_url: string,
    },
    ['processor_presigned_url'],
  ),
  // The models routes' own view schema (src/api/models/model-view.schema.ts).
  Model: openApiSchema(modelViewSchema),
  OutputUrl: object({
    task_id: string,
    status: { type: 'string', enum: [...TASK_STATUSES] },
    output_key: string,
    url: string,
    expires_at: dateTime,
  }),
  Readiness: object({
    status: { type: 'string', enum: ['ok'] },
    checks: { type: 'object', additionalProperties: dependencyCheck },
  }),
  NotReady: object({
    statusCode: { type: 'integer', enum: [503] },
    error: string,
    message: string,
    status: { type: 'string', enum: ['unavailable'] },
    down: arrayOf(string),
    checks: { type: 'object', additionalProperties: dependencyCheck },
  }),
  Liveness: object({ status: { type: 'string', enum: ['ok'] }, uptime_seconds: number }),
  QueueStatus: object({
    namespace: string,
    queues: arrayOf(
      object({ name: string, roles: arrayOf(string), config_vars: arrayOf(string), types: anyObject }, ['config_vars']),
    ),
  }),
} satisfies Record<string, SchemaObject>;

/** The lists reuse their item schema. */
Object.assign(RESPONSE_SCHEMAS, {
  InferenceList: list('Inference'),
  GenericProcessorList: list('GenericProcessor'),
  ModelList: list('Model'),
});

export type ResponseSchemaName = keyof typeof RESPONSE_SCHEMAS | 'InferenceList' | 'GenericProcessorList' | 'ModelList';

/** A 2xx JSON answer described by a component schema (and an example, when given). */
export function ApiJsonResponse(status: number, name: ResponseSchemaName, description?: string, example?: unknown) {
  return ApiResponse({
    status,
    description: description ?? 'OK',
    content: {
      'application/json': {
        schema: ref(name),
        ...(example !== undefined ? { example } : {}),
      },
    },
  });
}

/** A 2xx answer that is not JSON: its media type and a string (or binary) schema. */
export function ApiRawResponse(
  status: number,
  mediaType: string,
  options: { binary?: boolean; description?: string } = {},
) {
  return applyDecorators(
    ApiProduces(mediaType),
    ApiResponse({
      status,
      description: options.description ?? 'OK',
      content: { [mediaType]: { schema: options.binary ? { type: 'string', format: 'binary' } : string } },
    }),
  );
}
