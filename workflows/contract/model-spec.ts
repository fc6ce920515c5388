/**
 * What a model needs from its input and what its output means. Stored with each model as
 * `model_input_data_spec`; activities read it to build model-ready tiles and to label the output.
 */
export interface ModelBandSpec {
  /** Band name, e.g. 'blue', 'nir', 'swir16' (Earth Search Sentinel-2 asset keys). */
  name: string;
  /** 1-based band index in the input GeoTIFF that holds this band. Defaults to the band's position + 1. */
  source_index?: number;
}

export interface ModelClassSpec {
  /** Pixel value written to the output mask. */
  value: number;
  name: string;
  /** Display colour, '#rrggbb'. */
  color?: string;
  /** Not an object class (e.g. clear sky): left out of COCO exports. */
  background?: boolean;
}

export interface ModelInputDataSpec extends ModelOutputKindSpec {
  /** Bands in the order the model expects them as input channels. */
  bands: ModelBandSpec[];
  /** reflectance = (dn + offset) * scale, applied before normalization. Default scale 1, offset 0. */
  scaling?: { scale: number; offset: number };
  /** Per-band (model order) z-score normalization applied after scaling: (x - mean) / std. */
  normalization?: { mean: number[]; std: number[] };
  /** Square model input size in pixels (e.g. 256). */
  tile_size: number;
  /** Pixels shared by neighbouring tiles (0 <= overlap < tile_size / 2). */
  tile_overlap: number;
  /**
   * How overlapping tiles are combined (src/geo/model/segmentation.ts): `center` takes each pixel from the tile
   * whose centre is nearest; `linear` and `cosine` (the default) average the model outputs of every tile covering
   * the pixel, weighted by a ramp over the overlap at each tile side, before the argmax (no seams).
   */
  tile_blending?: TileBlending;
  /** Input pixel value meaning "no data" (all bands equal to it) -> output nodata. */
  nodata?: number;
  /**
   * Output classes; the model emits one logit channel per class, in this order of `value`. Regression models have
   * none (stored as []).
   */
  classes: ModelClassSpec[];
  /**
   * Ground sampling distance in metres of chips built from bbox / polygons / tiles (STAC sources); every
   * band is resampled to this grid in the scene's CRS. Default 10.
   */
  resolution?: number;
  /**
   * Output value written where the input has no data. Segmentation: an integer 0-255, default 255. Regression: a
   * number or 'NaN' (the default).
   */
  output_nodata?: number | 'NaN';
  /**
   * The input preview written beside each prediction: three of `bands` by name as red, green, blue, each
   * stretched between two percentiles of its valid pixels. Default: the bands named red/green/blue (or
   * Sentinel-2 / Landsat names B04/B03/B02, B4/B3/B2), percentiles 2 and 98.
   */
  preview?: { bands: string[]; percentiles?: [number, number] };
  /**
   * Vector predictions: Douglas-Peucker tolerance in the output CRS's units (metres for UTM); unset or 0:
   * polygons follow the pixel edges exactly.
   */
  vectors?: { simplify_tolerance?: number };
  /** Input guardrails (src/geo/model/input-guardrails.ts): each task's input is checked before the model runs. */
  guardrails?: InputGuardrails;
  /** A time series model: its input stacks `num_steps` frames (docs/temporal.md). Unset: one date, NCHW. */
  temporal?: ModelTemporalSpec;
}

/**
 * What a model expects of its input, after scaling and normalisation. Without `input_ranges` the ranges are
 * learned from the model's golden input when it has one; without either only the nodata rule applies.
 */
export interface InputGuardrails {
  /** Per band (model order): [min, max] of the model input, after scaling and normalisation. */
  input_ranges?: Array<[number, number]>;
  /** A band whose sampled values are outside its range more often than this violates it. Default 0.05. */
  max_outside_fraction?: number;
  /** An input with a larger share of nodata pixels violates the guardrails. Default 0.5. */
  max_nodata_fraction?: number;
  /** `warn` (default): the step finishes with a warning; `fail`: the task fails with the reason. */
  on_violation?: 'warn' | 'fail';
}

/** Tensor layouts of a time series model's input: channels then time (Prithvi), time then channels, or time folded into channels (time-major). */
export const TEMPORAL_LAYOUTS = ['BCTHW', 'BTCHW', 'B(TC)HW'] as const;
export type TemporalLayout = (typeof TEMPORAL_LAYOUTS)[number];

/** Encodings of a model's per-frame date input: `year_doy` [B, T, 2] (year, day of year 1-366), `doy` [B, T]. */
export const FRAME_DATE_ENCODINGS = ['year_doy', 'doy'] as const;
export type FrameDateEncoding = (typeof FRAME_DATE_ENCODINGS)[number];

export interface ModelTemporalSpec {
  /** Frames per stack (a request may override it unless the graph fixes T). */
  num_steps: number;
  /** Days between the target dates of consecutive frames. */
  temporal_step: number;
  /** A frame's scene may be this many days before or after its target date. */
  temporal_tolerance: number;
  layout: TemporalLayout;
  /** A second ONNX input (by name) taking each frame's acquisition date as float32. */
  dates_input?: { name: string; encoding: FrameDateEncoding };
}

/** What the model's output means and how big its input tiles may be (src/geo/model/output-kinds.ts). */
export interface ModelOutputKindSpec {
  /** `segmentation` (default): one logit channel per class, argmax -> uint8 mask. `regression`: float channels. */
  task_type?: ModelTaskType;
  /**
   * Segmentation only: also write per-class softmax probabilities as a second COG beside the mask. `true` or
   * 'uint8': percent 0-100 per band (bands sum to 100 +/- rounding), 255 nodata; 'float32': 0-1, NaN nodata.
   */
  probabilities?: boolean | 'uint8' | 'float32';
  /** Regression only: the unit of the output values (e.g. 'Mg/ha', 'm'). */
  units?: string;
  /** Regression only: written value = model output * output_scale + output_offset. Default 1 and 0. */
  output_scale?: number;
  output_offset?: number;
  /** Regression only: the value range the colormap spans in tiles, legends and styles (after scale/offset). */
  rescale?: [number, number];
  /** Regression only: a colormap name of COLORMAP_NAMES (default viridis). */
  colormap?: string;
  /** Regression only: names of the output channels (default band_1, band_2, ...). */
  output_bands?: string[];
  /**
   * `fixed`: the graph takes tile_size x tile_size only; `dynamic`: any H x W (a request's chip_size picks it).
   * Inferred from the graph's input H/W at registration when not given.
   */
  input_size?: 'fixed' | 'dynamic';
}

export const MODEL_TASK_TYPES = ['segmentation', 'regression'] as const;
export type ModelTaskType = (typeof MODEL_TASK_TYPES)[number];

export function taskTypeOf(spec: Pick<ModelInputDataSpec, 'task_type'>): ModelTaskType {
  return spec.task_type ?? 'segmentation';
}

/** The output nodata of a class mask (uint8): the spec's, else 255. */
export function maskNodata(spec: Pick<ModelInputDataSpec, 'output_nodata'>): number {
  return typeof spec.output_nodata === 'number' ? spec.output_nodata : 255;
}

/** The output nodata of a regression output (float32): the spec's value, NaN by default. */
export function regressionNodata(spec: Pick<ModelInputDataSpec, 'output_nodata'>): number {
  return typeof spec.output_nodata === 'number' ? spec.output_nodata : Number.NaN;
}

/** The data type of the probabilities COG, or undefined when the spec asks for none. */
export function probabilitiesType(spec: Pick<ModelInputDataSpec, 'probabilities'>): 'uint8' | 'float32' | undefined {
  if (spec.probabilities === true) return 'uint8';
  return spec.probabilities ? spec.probabilities : undefined;
}

export const TILE_BLENDINGS = ['center', 'linear', 'cosine'] as const;
export type TileBlending = (typeof TILE_BLENDINGS)[number];
/** `tile_blending` of a spec that names none. */
export const DEFAULT_TILE_BLENDING: TileBlending = 'cosine';

/** `resolution` of chips when the spec names none: Sentinel-2's finest bands. */
export const DEFAULT_CHIP_RESOLUTION_M = 10;

/** How results of a model are published to GeoServer. */
export interface GeoserverPushConfig {
  workspace: string;
  /** Layer name template; `{inference_id}`, `{task_id}` and `{model}` are substituted. */
  layer_name?: string;
  /** Coverage store name template (same placeholders); default: the layer name (one store per output). */
  store?: string;
  /** Style name; default `{model}_classes`. Created / updated from `classes` on every publish. */
  style?: string;
}
