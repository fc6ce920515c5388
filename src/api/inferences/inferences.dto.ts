import { z } from 'zod';
import { pagingQueryFields } from '../http/paging';
import { withOpenApiSchema } from '../openapi/zod-openapi';
import { MGRS_TILE, polygonGeometry, SpatialDomainError } from '../../geo/stac/spatial-domain';
import { parseTemporalEntry, TemporalDomainError } from '../../geo/stac/temporal-domain';
import { INFERENCE_STATUSES } from '../../../workflows/contract/status';
import { DATA_SOURCE_IDS } from '../../../workflows/contract/imagery-sources';
import { MAX_NUM_STEPS, requestTemporalSchema } from '../models/temporal.dto';

/** "YYYY-MM-DD" (that UTC day) or an interval "start/end" of dates or RFC 3339 date-times. */
const temporalEntry = z
  .string()
  .max(100)
  .superRefine((value, context) => {
    try {
      parseTemporalEntry(value);
    } catch (error) {
      if (!(error instanceof TemporalDomainError)) throw error;
      context.addIssue({ code: z.ZodIssueCode.custom, message: error.message });
    }
  });

const polygon = z.unknown().superRefine((value, context) => {
  try {
    polygonGeometry(value);
  } catch (error) {
    if (!(error instanceof SpatialDomainError)) throw error;
    context.addIssue({ code: z.ZodIssueCode.custom, message: error.message });
  }
});

export const DATA_SOURCES = DATA_SOURCE_IDS;

export const bbox = z
  .array(z.number().finite())
  .length(4, 'must be [lon_min, lat_min, lon_max, lat_max]')
  .refine(([minX, minY, maxX, maxY]) => minX < maxX && minY < maxY, 'min must be less than max')
  .refine(
    ([minX, minY, maxX, maxY]) => minX >= -180 && maxX <= 180 && minY >= -90 && maxY <= 90,
    'must be in WGS84 degrees: lon in [-180, 180], lat in [-90, 90]',
  );

const httpUrl = z
  .string()
  .max(8192)
  .url('must be an http(s) URL')
  .refine((value) => /^https?:\/\//i.test(value), 'must be an http(s) URL');

const seriesUrls = z.array(httpUrl).min(1, 'a time series needs at least one GeoTIFF').max(MAX_NUM_STEPS);

/** A URL, or a list of URLs (a time series); errors keep the messages of the one that applies. */
const urlEntry = withOpenApiSchema(
  z
    .unknown()
    .superRefine((value, context) => {
      const result = (Array.isArray(value) ? seriesUrls : httpUrl).safeParse(value);
      if (!result.success) for (const issue of result.error.issues) context.addIssue({ ...issue } as z.IssueData);
    })
    .transform((value) => value as string | string[]),
  z.union([httpUrl, seriesUrls]),
);

export const spatialDomainSchema = z
  .object({
    bbox: z.array(bbox).max(1000).optional(),
    polygons: z.array(polygon).max(1000).optional(),
    tiles: z
      .array(
        z
          .string()
          .transform((tile) => tile.trim().toUpperCase())
          .refine((tile) => MGRS_TILE.test(tile), 'must be a Sentinel-2 MGRS tile id like 33UXP'),
      )
      .max(1000)
      .optional(),
    // An entry that is a list is one task: a time series, one GeoTIFF per frame on one grid, oldest first.
    urls: z.array(urlEntry).max(10_000).optional(),
  })
  .strict()
  .refine(
    (domain) => [domain.bbox, domain.polygons, domain.tiles, domain.urls].some((list) => (list?.length ?? 0) > 0),
    {
      message: 'needs at least one of bbox, polygons, tiles or urls',
    },
  );

export const POST_PROCESSING_KEYS = ['cloud_masking', 'snow_ice_masking', 'permanent_water_masking'] as const;

const inferenceFields = z.object({
  model_display_name: z.string().min(1).max(200).optional(),
  model_id: z.string().uuid('must be a UUID').optional(),
  description: z.string().max(4000).optional(),
  location: z.string().max(1000).optional(),
  spatial_domain: spatialDomainSchema,
  temporal_domain: z.array(temporalEntry).max(366),
  maxcc: z.number().int().min(0).max(100).optional(),
  data_source: z.enum(DATA_SOURCES).optional(),
  fine_tuning_id: z.string().max(200).optional(),
  generic_processor_id: z.string().uuid('must be a UUID').optional(),
  webhook_url: httpUrl.optional(),
  webhook_secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, 'must be a Standard Webhooks secret: whsec_ + base64')
    .optional(),
  temporal: requestTemporalSchema.optional(),
  chip_size: z
    .number()
    .int('must be an integer')
    .min(8)
    .max(4096)
    .optional()
    .describe("tile size the model runs on: any size for a dynamic-input model; a fixed one's tile_size only"),
  post_processing: z
    .object(Object.fromEntries(POST_PROCESSING_KEYS.map((key) => [key, z.boolean().optional()])))
    .strict()
    .optional(),
});

const needsModel = { message: 'either model_id or model_display_name is required', path: ['model_id'] };

export const createInferenceSchema = inferenceFields
  .strict()
  .refine((request) => request.model_id || request.model_display_name, needsModel);

export type CreateInferenceRequest = z.infer<typeof createInferenceSchema>;

/** The `inference` form field of a bulk upload: the same fields, the uploaded files being the spatial domain. */
export const uploadInferenceSchema = inferenceFields
  .omit({ spatial_domain: true })
  .extend({
    temporal_domain: inferenceFields.shape.temporal_domain.default([]),
    // Time series: each entry names uploaded files (oldest first) that form one task; other files are a task each.
    series: z
      .array(z.array(z.string().min(1).max(1000)).min(1).max(MAX_NUM_STEPS))
      .max(10_000)
      .optional(),
  })
  .strict()
  .refine((request) => request.model_id || request.model_display_name, needsModel);

export type UploadInferenceRequest = z.infer<typeof uploadInferenceSchema>;

export const listInferencesQuerySchema = z
  .object({
    ...pagingQueryFields,
    status: z.enum(INFERENCE_STATUSES).optional(),
    model_id: z.string().uuid('must be a UUID').optional(),
    model_display_name: z.string().min(1).max(200).optional(),
    created_by: z.string().min(1).max(320).optional(),
  })
  .strict();
