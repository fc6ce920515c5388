import { z } from 'zod';

/** A scene a task would build its chip from. */
const sceneSchema = z.object({
  item_id: z.string(),
  collection: z.string().nullable(),
  datetime: z.string().nullable(),
  cloud_cover: z.number().nullable(),
});

/** One task of a dry run: its input and, for areas, the scene the data-fetch step would pick or why none fits. */
export const dryRunTaskSchema = z.object({
  task_index: z.number().int(),
  input: z
    .record(z.unknown())
    .describe('url: { kind, url }; areas: { kind: stac, data_source, area_label, bbox, date, datetime, maxcc, ... }'),
  scene: sceneSchema
    .nullable()
    .describe('areas: the least cloudy scene within maxcc covering the area; null when none fits or for URLs'),
  frames: z
    .array(
      z.object({
        frame: z.number().int(),
        target_date: z.string(),
        scene: sceneSchema.nullable(),
        reason: z.string().nullable(),
      }),
    )
    .optional()
    .describe(
      'time series models: every frame (oldest first), its target date and the scene it would use, or why none fits',
    ),
  scenes_found: z.number().int().nullable().describe('areas: scenes the STAC search returned for the area and dates'),
  scenes_within_maxcc: z.number().int().nullable(),
  available: z
    .boolean()
    .nullable()
    .describe(
      'false: a real run would fail this task at terrakit-data-fetch; null: not searched (past the first 500 area x date tasks)',
    ),
  reason: z
    .string()
    .nullable()
    .describe('why no scene fits (the date, maxcc and what was found), or why the search failed'),
});

/** POST /api/v2/inference/dry-run: what a create with the same body would run. Nothing is stored or started. */
export const dryRunViewSchema = z.object({
  dry_run: z.literal(true),
  model_id: z.string().uuid(),
  model_display_name: z.string(),
  model_version: z.number().int(),
  steps: z.array(z.string()).describe('the step plan every task would run, in order'),
  tasks_count_total: z.number().int(),
  tasks_available: z.number().int().describe('tasks with imagery (URLs count as available: they are read at run time)'),
  tasks_unavailable: z.number().int().describe('tasks with no scene that fits (not counting unsearched ones)'),
  tasks: z.array(dryRunTaskSchema),
});

export type DryRunView = z.infer<typeof dryRunViewSchema>;
export type DryRunTask = z.infer<typeof dryRunTaskSchema>;
