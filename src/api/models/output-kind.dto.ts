/**
 * The model spec's output kind fields (issue 14 items 2, 3): task_type, probabilities, the regression display
 * fields and input_size. Kept apart from models.dto.ts so the field rules read in one place.
 */
import { z } from 'zod';
import { MODEL_TASK_TYPES } from '../../../workflows/contract/model-spec';
import { COLORMAP_NAMES } from '../../geo/tiles/colormaps';

export const outputKindFields = {
  task_type: z.enum(MODEL_TASK_TYPES).optional(),
  probabilities: z.union([z.boolean(), z.enum(['uint8', 'float32'])]).optional(),
  units: z.string().min(1).max(64).optional(),
  output_scale: z
    .number()
    .finite()
    .refine((v) => v !== 0, 'must not be 0')
    .optional(),
  output_offset: z.number().finite().optional(),
  rescale: z.tuple([z.number().finite(), z.number().finite()]).optional(),
  colormap: z.string().max(64).optional(),
  output_bands: z.array(z.string().min(1).max(64)).min(1).max(64).optional(),
  input_size: z.enum(['fixed', 'dynamic']).optional(),
};

/** Fields that only mean something for one task type. */
const REGRESSION_ONLY = ['units', 'output_scale', 'output_offset', 'rescale', 'colormap', 'output_bands'] as const;
/** Segmentation fields that need an argmax over class channels. */
const SEGMENTATION_ONLY = ['probabilities', 'vectors'] as const;

type OutputKindInput = { [K in keyof typeof outputKindFields]?: z.infer<(typeof outputKindFields)[K]> } & {
  classes?: unknown[];
  vectors?: unknown;
};

export interface OutputKindProblem {
  /** The spec field, e.g. `probabilities`. */
  field: string;
  message: string;
}

/**
 * Fields that contradict the task type, an unknown colormap, an empty rescale range. Checked at registration
 * (output-kind-check.ts), where they answer 422 naming `model_input_data_spec.<field>`: the spec is well-formed JSON
 * of the right types (zod, 400 otherwise) but asks for something this model kind cannot do.
 */
export function outputKindProblems(spec: OutputKindInput): OutputKindProblem[] {
  const problems: OutputKindProblem[] = [];
  const issue = (path: string[], message: string) => problems.push({ field: path.join('.'), message });
  if (spec.task_type === 'regression') {
    if (spec.classes && spec.classes.length > 0)
      issue(['classes'], 'a regression model has no classes (its output channels are float values)');
    for (const key of SEGMENTATION_ONLY)
      if (spec[key] !== undefined && spec[key] !== false)
        issue([key], `only for task_type segmentation (it needs an argmax over class channels)`);
  } else {
    for (const key of REGRESSION_ONLY) if (spec[key] !== undefined) issue([key], 'only for task_type regression');
  }
  if (spec.rescale && !(spec.rescale[0] < spec.rescale[1])) issue(['rescale'], 'must be [min, max] with min < max');
  if (spec.colormap !== undefined && !(COLORMAP_NAMES as readonly string[]).includes(spec.colormap))
    issue(['colormap'], `unknown colormap ${spec.colormap}; one of ${COLORMAP_NAMES.join(', ')}`);
  return problems;
}
