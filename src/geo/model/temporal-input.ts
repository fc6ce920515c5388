/**
 * Time series model inputs (spec `temporal`, docs/temporal.md). A task's input GeoTIFF holds its frames
 * time-major: band `t * B + s` (1-based s) is source band s of frame t (t = 0 the oldest), B being the bands of
 * one frame (the highest `source_index`, default the number of bands). The three layouts differ only in the
 * order of the H x W planes of one tile, so the tensor is filled by the same per-plane code as a single date:
 *   BCTHW: plane c * T + t;  BTCHW and B(TC)HW: plane t * C + c.
 * Scaling and normalisation are per band (the spec's mean/std of band c for every frame).
 */
import type { ModelBandSpec, ModelInputDataSpec, ModelTemporalSpec } from '../../../workflows/contract/model-spec';

type Dim = number | string | undefined;
const fixed = (dim: Dim): dim is number => typeof dim === 'number' && dim > 0;

/** Bands of one frame in the input GeoTIFF: the highest band a model band reads. */
export function bandsPerFrame(spec: Pick<ModelInputDataSpec, 'bands'>): number {
  return Math.max(...spec.bands.map((band, index) => band.source_index ?? index + 1));
}

/** Frames held by an input of `bandCount` bands, or why it cannot be a whole number of frames. */
export function framesInInput(spec: ModelInputDataSpec, bandCount: number): { frames: number } | { error: string } {
  const perFrame = bandsPerFrame(spec);
  if (bandCount < perFrame || bandCount % perFrame !== 0)
    return {
      error: `the input has ${bandCount} band(s), not a whole number of frames of ${perFrame} band(s) (${spec.bands.map((b) => b.name).join(', ')}), time-major`,
    };
  return { frames: bandCount / perFrame };
}

/** The axes of the model input the layout puts C and T on (batch is axis 0); T is undefined when folded into C. */
function axes(layout: ModelTemporalSpec['layout']): { rank: number; c: number; t?: number; h: number; w: number } {
  if (layout === 'BCTHW') return { rank: 5, c: 1, t: 2, h: 3, w: 4 };
  if (layout === 'BTCHW') return { rank: 5, c: 2, t: 1, h: 3, w: 4 };
  return { rank: 4, c: 1, h: 2, w: 3 };
}

/** The number of frames a graph's input fixes (undefined: dynamic T), given its declared layout and bands. */
export function graphFrames(temporal: ModelTemporalSpec, bands: number, dims: Dim[]): number | undefined {
  const { rank, c, t } = axes(temporal.layout);
  if (dims.length !== rank) return undefined;
  if (t !== undefined) return fixed(dims[t]) ? dims[t] : undefined;
  return fixed(dims[c]) ? dims[c] / bands : undefined;
}

/**
 * Why a graph's image input does not match a temporal spec (field, message), or null. Checks the rank the layout
 * needs, bands on the C axis, num_steps on T (or T x C folded), tile_size on H and W.
 */
export function temporalShapeMismatch(
  spec: ModelInputDataSpec & { temporal: ModelTemporalSpec },
  inputName: string,
  dims: Dim[],
): { field: string; message: string } | null {
  const { temporal } = spec;
  const shape = `[${dims.join(', ')}]`;
  const { rank, c, t, h, w } = axes(temporal.layout);
  const C = spec.bands.length;
  if (dims.length !== rank)
    return {
      field: 'model_input_data_spec.temporal.layout',
      message: `layout ${temporal.layout} needs a ${rank}-dimensional input but input "${inputName}" has shape ${shape}`,
    };
  if (t !== undefined) {
    if (fixed(dims[c]) && dims[c] !== C)
      return {
        field: 'model_input_data_spec.bands',
        message: `input "${inputName}" ${shape} has ${dims[c]} channels on the C axis of ${temporal.layout} but ${C} bands are declared`,
      };
    if (fixed(dims[t]) && dims[t] !== temporal.num_steps)
      return {
        field: 'model_input_data_spec.temporal.num_steps',
        message: `input "${inputName}" ${shape} takes ${dims[t]} time steps on the T axis of ${temporal.layout} but num_steps is ${temporal.num_steps}`,
      };
  } else if (fixed(dims[c]) && dims[c] !== C * temporal.num_steps) {
    return {
      field: 'model_input_data_spec.temporal.num_steps',
      message: `input "${inputName}" ${shape} takes ${dims[c]} channels but layout B(TC)HW with ${C} bands x num_steps ${temporal.num_steps} needs ${C * temporal.num_steps}`,
    };
  }
  if ((fixed(dims[h]) && dims[h] !== spec.tile_size) || (fixed(dims[w]) && dims[w] !== spec.tile_size))
    return {
      field: 'model_input_data_spec.tile_size',
      message: `the model input is ${dims[h]}x${dims[w]} (input "${inputName}" ${shape}) but tile_size is ${spec.tile_size}`,
    };
  return null;
}

/** Why a graph's date input does not fit `dates_input` (its name, rank and T), or null. */
export function datesInputMismatch(
  temporal: ModelTemporalSpec,
  inputs: Array<{ name: string; dims: Dim[] }>,
): { field: string; message: string } | null {
  const declared = temporal.dates_input;
  const field = 'model_input_data_spec.temporal.dates_input';
  if (!declared) {
    return inputs.length > 1
      ? {
          field,
          message: `the graph has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); declare the second one as dates_input`,
        }
      : null;
  }
  const input = inputs.find((entry) => entry.name === declared.name);
  if (!input)
    return {
      field: `${field}.name`,
      message: `the graph has no input "${declared.name}" (its inputs: ${inputs.map((i) => i.name).join(', ')})`,
    };
  const rank = declared.encoding === 'year_doy' ? 3 : 2;
  if (input.dims.length !== rank || (declared.encoding === 'year_doy' && fixed(input.dims[2]) && input.dims[2] !== 2))
    return {
      field: `${field}.encoding`,
      message: `encoding ${declared.encoding} feeds [batch, T${declared.encoding === 'year_doy' ? ', 2' : ''}] but input "${input.name}" has shape [${input.dims.join(', ')}]`,
    };
  if (fixed(input.dims[1]) && input.dims[1] !== temporal.num_steps)
    return {
      field: 'model_input_data_spec.temporal.num_steps',
      message: `input "${input.name}" takes ${input.dims[1]} dates but num_steps is ${temporal.num_steps}`,
    };
  return null;
}

/**
 * The per-plane spec of a stack of `frames`: one band entry per tensor plane in the layout's order, reading the
 * frame's band of the time-major input, with that band's normalisation. Feeds the single-date preprocessing.
 */
export function expandTemporalSpec(spec: ModelInputDataSpec, frames: number): ModelInputDataSpec {
  const temporal = spec.temporal!;
  const perFrame = bandsPerFrame(spec);
  const planes: Array<{ band: ModelBandSpec; c: number }> = [];
  const plane = (c: number, t: number) => {
    const band = spec.bands[c]!;
    planes.push({
      band: { name: `${band.name}@${t}`, source_index: t * perFrame + (band.source_index ?? c + 1) },
      c,
    });
  };
  const C = spec.bands.length;
  if (temporal.layout === 'BCTHW') for (let c = 0; c < C; c++) for (let t = 0; t < frames; t++) plane(c, t);
  else for (let t = 0; t < frames; t++) for (let c = 0; c < C; c++) plane(c, t);
  return {
    ...spec,
    bands: planes.map((entry) => entry.band),
    ...(spec.normalization
      ? {
          normalization: {
            mean: planes.map((entry) => spec.normalization!.mean[entry.c]!),
            std: planes.map((entry) => spec.normalization!.std[entry.c]!),
          },
        }
      : {}),
  };
}

/** The shape of one tile of the image input (no batch axis) for `frames`. */
export function tileInputShape(spec: ModelInputDataSpec, frames: number): number[] {
  const C = spec.bands.length;
  const size = spec.tile_size;
  const layout = spec.temporal!.layout;
  if (layout === 'BCTHW') return [C, frames, size, size];
  if (layout === 'BTCHW') return [frames, C, size, size];
  return [frames * C, size, size];
}

/** Day of the year, 1 on 1 January (UTC). */
function dayOfYear(date: Date): number {
  return Math.floor((date.getTime() - Date.UTC(date.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
}

/**
 * The values of a model's date input for one stack (shape [T, 2] year and day of year, or [T] day of year),
 * flattened; `dates` are the frames' acquisition times, oldest first.
 */
export function encodeFrameDates(
  encoding: NonNullable<ModelTemporalSpec['dates_input']>['encoding'],
  dates: string[],
): { values: number[]; shape: number[] } {
  const parsed = dates.map((value) => new Date(value));
  if (encoding === 'doy') return { values: parsed.map(dayOfYear), shape: [parsed.length] };
  return { values: parsed.flatMap((date) => [date.getUTCFullYear(), dayOfYear(date)]), shape: [parsed.length, 2] };
}
