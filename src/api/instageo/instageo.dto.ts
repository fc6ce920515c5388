import { z } from 'zod';
import { pagingQueryFields } from '../http/paging';
import { modelTypeSchema } from '../models/models.dto';
import { bbox } from '../inferences/inferences.dto';
import type { DataSourceId } from '../../../workflows/contract/imagery-sources';

/** InstaGeo's `data_source` values and the imagery source (workflows/contract/imagery-sources.ts) each maps to. */
export const INSTAGEO_DATA_SOURCES = { S2: 'sentinel-2-l2a', HLS: 'hls' } as const satisfies Record<
  string,
  DataSourceId
>;
export type InstageoDataSource = keyof typeof INSTAGEO_DATA_SOURCES;

/** A calendar day "YYYY-MM-DD" that exists (2024-02-30 does not). */
const calendarDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
  .refine((value) => {
    const day = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === value;
  }, 'must be a calendar date YYYY-MM-DD');

const days = (max: number) => z.number().int('must be a whole number of days').max(max);

/** The body of POST /api/run-model, exactly the fields of the InstaGeo seed (003). */
export const runModelSchema = z
  .object({
    bboxes: z
      .array(bbox)
      .min(1, 'at least one bbox [lon_min, lat_min, lon_max, lat_max] is required')
      .max(1000)
      .describe('areas, each [lon_min, lat_min, lon_max, lat_max] in WGS84 degrees: one task of the inference each'),
    model_type: modelTypeSchema.describe('selects the latest READY registered model of this model_type'),
    date: calendarDate.describe('the target date (UTC day); with num_steps > 1 the date of the latest frame'),
    chip_size: z.number().int().min(8).max(4096).optional().describe('model tile size in pixels'),
    cloud_coverage: z.number().int().min(0).max(100).optional().describe('maximum scene cloud cover in % (maxcc)'),
    num_steps: z.number().int().min(1).max(64).optional().describe('frames of the time series'),
    data_source: z
      .enum(Object.keys(INSTAGEO_DATA_SOURCES) as [InstageoDataSource, ...InstageoDataSource[]])
      .optional()
      .describe('S2: Sentinel-2 L2A (collection sentinel-2-l2a); HLS: HLSS30_2.0 and HLSL30_2.0. Default S2'),
    temporal_step: days(3650).min(1).optional().describe('days between the target dates of the frames'),
    temporal_tolerance: days(3650).min(0).optional().describe('days a frame may be away from its target date'),
  })
  .strict();

export type RunModelRequest = z.infer<typeof runModelSchema>;

export const listTasksQuerySchema = z.object({ ...pagingQueryFields }).strict();
export type ListTasksQuery = z.infer<typeof listTasksQuerySchema>;

export const INSTAGEO_TASK_STATUSES = ['data_processing', 'model_prediction', 'completed', 'failed'] as const;
export type InstageoTaskStatus = (typeof INSTAGEO_TASK_STATUSES)[number];

export const INSTAGEO_STAGE_STATUSES = ['pending', 'running', 'completed', 'failed'] as const;
export type InstageoStageStatus = (typeof INSTAGEO_STAGE_STATUSES)[number];

const stageViewSchema = z.object({
  name: z.enum(['data_processing', 'model_prediction']),
  status: z.enum(INSTAGEO_STAGE_STATUSES),
  started: z.string().datetime().nullable(),
  finished: z.string().datetime().nullable(),
  error: z.string().nullable(),
});

/** A task as GET /api/task/{task_id} and GET /api/tasks answer it (OpenAPI response schema). */
export const instageoTaskViewSchema = z.object({
  task_id: z.string().uuid().describe('also the id of the inference under /api/v2/inference/{id}'),
  status: z.enum(INSTAGEO_TASK_STATUSES),
  created_at: z.string().datetime(),
  updated_at: z.string().datetime(),
  model_type: z.string(),
  model_id: z.string().uuid(),
  bbox_count: z.number().int(),
  bboxes: z.array(z.array(z.number())),
  parameters: z.record(z.unknown()).describe('the request as sent, less bboxes'),
  stages: z.array(stageViewSchema),
  error: z.string().nullable(),
  bbox_results: z
    .array(
      z.object({
        bbox: z.array(z.number()),
        task_id: z.string().describe('the inference task of this bbox (/api/v2/tasks/{task_id})'),
        status: z.string(),
        output_key: z.string().nullable(),
        error: z.string().nullable(),
      }),
    )
    .describe('one entry per bbox: its inference task'),
});

export const instageoTaskListSchema = z.object({
  tasks: z.array(instageoTaskViewSchema),
  total_records: z.number().int(),
});
