import { z } from 'zod';

/** A model as the API returns it (OpenAPI response schema of the models routes). */
export const modelViewSchema = z.object({
  id: z.string().uuid(),
  display_name: z.string(),
  description: z.string().nullable(),
  owner: z.string().describe('the user who may change or delete the model (admins may too)'),
  visibility: z.enum(['private', 'public']),
  version: z
    .number()
    .int()
    .describe(
      '1, then n+1 each time the owner registers the display name again; model_display_name picks the latest READY one',
    ),
  status: z.string(),
  status_message: z.string().nullable(),
  model_input_data_spec: z.record(z.unknown()),
  geoserver_push: z.record(z.unknown()).nullable(),
  model_file_path: z.string(),
  model_file_sha256: z.string(),
  model_file_size: z.number().int(),
  onnx_signature: z.unknown(),
  golden: z
    .object({
      input_key: z.string(),
      expected_output_key: z.string(),
      width: z.number().int(),
      height: z.number().int(),
      bands: z.number().int(),
      tolerance: z.number(),
      max_differing_pixels: z.number().int(),
      max_difference: z.number(),
      differing_pixels: z.number().int(),
      checked_at: z.string().datetime(),
    })
    .nullable()
    .describe('the golden pair checked at registration, null when none was given'),
  model_type: z.string().nullable().describe('the InstaGeo task API key of the model (POST /api/run-model)'),
  created_by: z.string(),
  created_at: z.string().datetime(),
  updated_at: z.string().datetime(),
});
