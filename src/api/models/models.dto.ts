import { z } from 'zod';
import { pagingQueryFields } from '../http/paging';
import { TILE_BLENDINGS } from '../../../workflows/contract/model-spec';
import { modelTemporalSpecSchema } from './temporal.dto';
import { outputKindFields } from './output-kind.dto';

const hexColor = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour like #1f77b4');

/** Input guardrails (src/geo/model/input-guardrails.ts): what the model expects of its input. */
const inputGuardrailsSchema = z
  .object({
    input_ranges: z
      .array(
        z
          .tuple([z.number().finite(), z.number().finite()])
          .refine(([low, high]) => low < high, 'min must be less than max'),
      )
      .min(1)
      .optional()
      .describe('per band (model order): [min, max] of the model input after scaling and normalisation'),
    max_outside_fraction: z.number().min(0).max(1).optional(),
    max_nodata_fraction: z.number().min(0).max(1).optional(),
    on_violation: z.enum(['warn', 'fail']).optional(),
  })
  .strict();

export const modelInputDataSpecSchema = z
  .object({
    bands: z
      .array(
        z
          .object({ name: z.string().min(1).max(64), source_index: z.number().int().min(1).max(1000).optional() })
          .strict(),
      )
      .min(1, 'at least one band is required')
      .max(512),
    scaling: z
      .object({
        scale: z
          .number()
          .finite()
          .refine((v) => v !== 0, 'must not be 0'),
        offset: z.number().finite(),
      })
      .strict()
      .optional(),
    normalization: z
      .object({
        mean: z.array(z.number().finite()).min(1),
        std: z
          .array(
            z
              .number()
              .finite()
              .refine((v) => v > 0, 'must be > 0'),
          )
          .min(1),
      })
      .strict()
      .optional(),
    tile_size: z.number().int().min(8).max(4096),
    tile_overlap: z.number().int().min(0),
    tile_blending: z.enum(TILE_BLENDINGS).optional(),
    nodata: z.number().finite().optional(),
    classes: z
      .array(
        z
          .object({
            value: z.number().int().min(0).max(254),
            name: z.string().min(1).max(100),
            color: hexColor.optional(),
            background: z.boolean().optional(),
          })
          .strict(),
      )
      .optional(),
    output_nodata: z.union([z.number().finite(), z.literal('NaN')]).optional(),
    ...outputKindFields,
    resolution: z.number().finite().min(0.5).max(10_000).optional(),
    vectors: z
      .object({
        simplify_tolerance: z.number().finite().min(0).max(1_000_000).optional(),
      })
      .strict()
      .optional(),
    guardrails: inputGuardrailsSchema.optional(),
    preview: z
      .object({
        bands: z.array(z.string().min(1)).length(3, 'three band names: red, green, blue'),
        percentiles: z
          .tuple([z.number().min(0).max(100), z.number().min(0).max(100)])
          .refine(([low, high]) => low < high, 'the low percentile must be below the high one')
          .optional(),
      })
      .strict()
      .optional(),
    temporal: modelTemporalSpecSchema.optional(),
  })
  .strict()
  .superRefine((spec, context) => {
    spec.preview?.bands.forEach((name, index) => {
      if (!spec.bands.some((band) => band.name === name))
        context.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['preview', 'bands', index],
          message: `${name} is not one of the model's bands (${spec.bands.map((band) => band.name).join(', ')})`,
        });
    });
    if (spec.tile_overlap * 2 >= spec.tile_size) {
      context.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['tile_overlap'],
        message: 'must be less than half of tile_size',
      });
    }
    if (spec.guardrails?.input_ranges && spec.guardrails.input_ranges.length !== spec.bands.length) {
      context.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['guardrails', 'input_ranges'],
        message: `needs one [min, max] per band (${spec.bands.length})`,
      });
    }
    if (spec.normalization) {
      for (const key of ['mean', 'std'] as const) {
        if (spec.normalization[key].length !== spec.bands.length) {
          context.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['normalization', key],
            message: `needs one value per band (${spec.bands.length})`,
          });
        }
      }
    }
    if (spec.task_type === 'regression') return;
    if (!spec.classes || spec.classes.length === 0)
      context.addIssue({ code: z.ZodIssueCode.custom, path: ['classes'], message: 'at least one class is required' });
    const values = new Set<number>();
    (spec.classes ?? []).forEach((entry, index) => {
      if (values.has(entry.value))
        context.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['classes', index, 'value'],
          message: `duplicate class value ${entry.value}`,
        });
      values.add(entry.value);
    });
    const nodata = spec.output_nodata ?? 255;
    if (nodata === 'NaN' || !Number.isInteger(nodata) || nodata < 0 || nodata > 255)
      context.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['output_nodata'],
        message: 'must be an integer 0-255 for a segmentation model (its mask is uint8)',
      });
    else if (values.has(nodata))
      context.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['output_nodata'],
        message: `${nodata} is also a class value`,
      });
  })
  // Regression models have no classes: stored as [] so every reader of `classes` sees a list.
  .transform((spec) => ({ ...spec, classes: spec.classes ?? [] }));

export const geoserverPushSchema = z
  .object({
    workspace: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only'),
    layer_name: z.string().min(1).max(200).optional(),
    store: z.string().min(1).max(200).optional(),
    style: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,200}$/, 'letters, digits, _ . - only')
      .optional(),
  })
  .strict();

const displayNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/, 'letters, digits, space, _ . - only');

/** The InstaGeo task API's `model_type` key (POST /api/run-model picks the latest READY model of it). */
export const modelTypeSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits, _ . - only (at most 100)')
  .describe('the key the InstaGeo task API (POST /api/run-model) selects this model by, e.g. aod_estimation');

export const modelVisibilitySchema = z
  .enum(['private', 'public'])
  .describe('private: only the owner (and admins) see and use the model; public: every user may use it');

/** How close the model's output on `golden_input` must come to `golden_output`. */
export const goldenToleranceSchema = z
  .object({
    tolerance: z
      .number()
      .finite()
      .min(0)
      .default(0)
      .describe('a pixel differs when |output - expected| is over this (class values: 0)'),
    max_differing_pixels: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('the most pixels that may differ by more than tolerance'),
  })
  .strict();

/** JSON metadata sent with a model file in the `model` form field. */
export const createModelSchema = z
  .object({
    display_name: displayNameSchema.describe(
      'a name the owner already has adds a new version of it (version n+1); model_display_name picks the latest',
    ),
    description: z.string().max(4000).optional(),
    visibility: modelVisibilitySchema.default('private'),
    model_input_data_spec: modelInputDataSpecSchema,
    geoserver_push: geoserverPushSchema.optional(),
    model_type: modelTypeSchema.optional(),
    golden: goldenToleranceSchema
      .optional()
      .describe('tolerance of the golden pair check (the golden_input and golden_output files); default exact'),
  })
  .strict();

/** PATCH /api/v2/models/{id}: metadata only (the file and its input spec are fixed once validated). */
export const updateModelSchema = z
  .object({
    display_name: displayNameSchema.optional(),
    description: z.string().max(4000).nullable().optional(),
    visibility: modelVisibilitySchema.optional(),
    geoserver_push: geoserverPushSchema.nullable().optional(),
    model_type: modelTypeSchema.nullable().optional(),
  })
  .strict()
  .refine(
    (body) => Object.keys(body).length > 0,
    'give at least one of display_name, description, visibility, geoserver_push, model_type',
  );
export type UpdateModelRequest = z.infer<typeof updateModelSchema>;

export type CreateModelRequest = z.infer<typeof createModelSchema>;

export const listQuerySchema = z
  .object({
    ...pagingQueryFields,
    visibility: modelVisibilitySchema.optional(),
    owner: z.string().max(320).optional().describe("only this owner's models (among those the caller may see)"),
    display_name: z.string().max(200).optional().describe('only the versions of models of this display name'),
    versions: z
      .enum(['all', 'latest'])
      .default('all')
      .describe('all: every version (default); latest: only the highest version of each owner and display name'),
  })
  .passthrough();

export type ListModelsQuery = z.infer<typeof listQuerySchema>;
