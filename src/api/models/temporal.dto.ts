import { z } from 'zod';
import { FRAME_DATE_ENCODINGS, TEMPORAL_LAYOUTS } from '../../../workflows/contract/model-spec';

/** Most frames a stack may have (a model's num_steps and a request's override). */
export const MAX_NUM_STEPS = 64;

/** Days, whole: the target dates of frames are whole days (docs/temporal.md). */
const days = (max: number) => z.number().int('must be a whole number of days').min(0).max(max);

/** `model_input_data_spec.temporal`: a time series model's stack (checked against the graph at registration). */
export const modelTemporalSpecSchema = z
  .object({
    num_steps: z.number().int().min(1).max(MAX_NUM_STEPS),
    temporal_step: days(3660).refine((value) => value >= 1, 'must be at least 1 day'),
    temporal_tolerance: days(366),
    layout: z.enum(TEMPORAL_LAYOUTS),
    dates_input: z
      .object({ name: z.string().min(1).max(200), encoding: z.enum(FRAME_DATE_ENCODINGS) })
      .strict()
      .optional(),
  })
  .strict();

/** A request's `temporal`: overrides of the model's values, checked against what the model accepts. */
export const requestTemporalSchema = z
  .object({
    num_steps: z.number().int().min(1).max(MAX_NUM_STEPS).optional(),
    temporal_step: days(3660)
      .refine((value) => value >= 1, 'must be at least 1 day')
      .optional(),
    temporal_tolerance: days(366).optional(),
  })
  .strict();

export type RequestTemporal = z.infer<typeof requestTemporalSchema>;
