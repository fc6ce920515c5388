/**
 * Input guardrails (issue 14 item 6): before a model runs, a sample of the task's model input (after scaling
 * and normalisation, exactly as the tiles are built) is compared with what the model expects: per-band ranges
 * declared in the spec (`guardrails.input_ranges`) or learned from the model's golden input. Wrong scaling
 * (digital numbers given to a reflectance model, InstaGeo issue 32), swapped bands and mostly-nodata inputs
 * are named; the step warns or, with `on_violation: 'fail'`, fails the task. Only a strided sample of pixels
 * is read (a few thousand), never a copy of the raster.
 */
import type { InputGuardrails, ModelInputDataSpec } from '../../../workflows/contract/model-spec';
import type { Raster, RasterTypedArray } from '../raster/raster';
import { bandPlans, nodataMask, type BandPlan } from './segmentation';
import { bandsPerFrame, framesInInput } from './temporal-input';

/** Pixels sampled per input (a strided grid over the whole raster). */
export const GUARDRAIL_SAMPLE_PIXELS = 4096;
export const DEFAULT_MAX_OUTSIDE_FRACTION = 0.05;
export const DEFAULT_MAX_NODATA_FRACTION = 0.5;
/** Values spread over this many times the expected range (or sit this many ranges away): wrong scaling. */
const SCALE_FACTOR_TOO_LARGE = 20;
/** Values spread over less than this share of the expected range: scaled twice (or a constant band). */
const SCALE_FACTOR_TOO_SMALL = 0.01;
/** The most out-of-range bands whose pairs are tried as swaps. */
const MAX_SWAP_CANDIDATES = 16;
/** Learned ranges: the golden input's 1st..99th percentiles, widened by this share of their width each side. */
const LEARNED_RANGE_MARGIN = 0.5;

export type ExpectedRange = [number, number];
export type RangeSource = 'declared' | 'golden' | 'none';

export type GuardrailViolationKind = 'mostly_nodata' | 'wrong_scaling' | 'swapped_bands' | 'out_of_range';

export interface GuardrailViolation {
  kind: GuardrailViolationKind;
  bands: string[];
  message: string;
  /** Time series inputs: the frame (0 = the oldest) the violation is in; its message starts with it. */
  frame?: number;
}

export interface BandSummary {
  name: string;
  /** 2nd, 50th and 98th percentiles of the sampled valid values, in model-input units. */
  p2: number | null;
  p50: number | null;
  p98: number | null;
  expected: ExpectedRange | null;
  /** Share of sampled valid values outside `expected` (null without one). */
  outside_fraction: number | null;
}

/** One frame of a time series input, checked on its own. */
export interface FrameGuardrailSummary {
  frame: number;
  date: string | null;
  nodata_fraction: number;
  bands: BandSummary[];
}

/** The step result field `input_guardrails`. */
export interface GuardrailReport {
  ranges_from: RangeSource;
  on_violation: 'warn' | 'fail';
  /** Over every frame of a time series input. */
  sampled_pixels: number;
  nodata_fraction: number;
  /** Per band over every frame (a time series' frames pooled). */
  bands: BandSummary[];
  violations: GuardrailViolation[];
  /** Time series inputs: each frame's statistics (the rules apply to each frame). */
  frames?: FrameGuardrailSummary[];
}

interface Sample {
  /** Raw input values of each spec band at the valid sampled pixels. */
  values: Float64Array[];
  sampled: number;
  nodata: number;
}

/** A strided grid of at most `maxPixels` pixels; nodata pixels (every band equals nodata) are counted apart. */
function samplePixels(
  raster: Pick<Raster, 'width' | 'height'>,
  plans: BandPlan[],
  nodataValue: number | null | undefined,
  maxPixels: number,
) {
  const pixels = raster.width * raster.height;
  const stride = Math.max(1, Math.floor(pixels / maxPixels));
  const indices: number[] = [];
  for (let i = Math.floor(stride / 2); i < pixels && indices.length < maxPixels; i += stride) indices.push(i);
  const picked = plans.map((plan) => plan.source);
  // nodataMask works on whole bands; on the sample it is the same rule on the sampled values.
  const sampledBands = picked.map((band) => Float64Array.from(indices, (i) => band[i]!));
  const mask = nodataMask(sampledBands, nodataValue, indices.length);
  const valid = indices.map((_, k) => k).filter((k) => !mask || mask[k] === 0);
  const sample: Sample = {
    values: sampledBands.map((band) => Float64Array.from(valid, (k) => band[k]!)),
    sampled: indices.length,
    nodata: indices.length - valid.length,
  };
  return sample;
}

/** The model-input value of raw `value` under `plan`'s scaling and normalisation (as fillTile computes it). */
const modelValue = (plan: BandPlan, value: number) => ((value + plan.offset) * plan.scale - plan.mean) / plan.std;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const position = (sorted.length - 1) * p;
  const low = Math.floor(position);
  const high = Math.min(sorted.length - 1, low + 1);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

/** Model-input values of `raw` under `plan`, sorted, with non-finite values dropped. */
function modelValues(plan: BandPlan, raw: Float64Array): Float64Array {
  const out = Float64Array.from(raw, (value) => modelValue(plan, value)).filter((value) => Number.isFinite(value));
  return out.sort();
}

const outsideFraction = (sorted: Float64Array, [low, high]: ExpectedRange) =>
  sorted.length === 0 ? 0 : sorted.filter((value) => value < low || value > high).length / sorted.length;

const round = (value: number) => (Number.isFinite(value) ? Number(value.toPrecision(4)) : null);

/**
 * Per-band ranges learned from a golden input: the 1st..99th percentiles of its model-input values, widened by
 * half their width on each side (another scene of the same sensor differs, an input scaled wrongly by far more).
 */
export function learnInputRanges(golden: Raster, spec: ModelInputDataSpec): ExpectedRange[] {
  const plans = bandPlans(spec, golden.bands, golden.bandCount);
  const sample = samplePixels(golden, plans, spec.nodata ?? golden.nodata, GUARDRAIL_SAMPLE_PIXELS * 4);
  return plans.map((plan, index) => {
    const sorted = modelValues(plan, sample.values[index]!);
    const low = percentile(sorted, 0.01);
    const high = percentile(sorted, 0.99);
    if (!Number.isFinite(low) || !Number.isFinite(high)) return [-Infinity, Infinity];
    // A constant golden band still gets a range as wide as its value's magnitude (or 1).
    const width = Math.max(high - low, Math.abs(high) * 0.1, 1e-6);
    return [low - LEARNED_RANGE_MARGIN * width, high + LEARNED_RANGE_MARGIN * width];
  });
}

/**
 * The band arrays of each frame of an input: the input itself for a single-date model; for a time series
 * (band t * B + s is source band s of frame t, docs/temporal.md) each frame's B bands. An input that is not a
 * whole number of frames is checked as one frame (the model step names the mismatch).
 */
function inputFrames(raster: Raster, spec: ModelInputDataSpec): RasterTypedArray[][] {
  if (!spec.temporal) return [raster.bands];
  const counted = framesInInput(spec, raster.bandCount);
  if ('error' in counted) return [raster.bands];
  const perFrame = bandsPerFrame(spec);
  return Array.from({ length: counted.frames }, (_, t) => raster.bands.slice(t * perFrame, (t + 1) * perFrame));
}

function bandSummaries(names: string[], sorted: Float64Array[], ranges: ExpectedRange[] | undefined): BandSummary[] {
  return names.map((name, index) => {
    const values = sorted[index]!;
    const expected = ranges?.[index] ?? null;
    return {
      name,
      p2: round(percentile(values, 0.02)),
      p50: round(percentile(values, 0.5)),
      p98: round(percentile(values, 0.98)),
      expected,
      outside_fraction: expected ? round(outsideFraction(values, expected)) : null,
    };
  });
}

/**
 * Compares a task's input with what the model expects. `learned`: ranges from the golden input, used when the
 * spec declares none. Without any range only the nodata rule applies. A time series input is checked frame by
 * frame (every rule, the per-band ranges applying to each frame); a violation names its frame (and its date
 * when `frameDates` gives it) and carries `frame`.
 */
export function checkInputGuardrails(
  raster: Raster,
  spec: ModelInputDataSpec,
  guardrails: InputGuardrails,
  learned?: ExpectedRange[],
  maxPixels = GUARDRAIL_SAMPLE_PIXELS,
  frameDates?: ReadonlyArray<string | null | undefined>,
): GuardrailReport {
  const names = spec.bands.map((band) => band.name);
  const ranges: ExpectedRange[] | undefined = guardrails.input_ranges ?? learned;
  const rangesFrom: RangeSource = guardrails.input_ranges ? 'declared' : learned ? 'golden' : 'none';
  const maxOutside = guardrails.max_outside_fraction ?? DEFAULT_MAX_OUTSIDE_FRACTION;
  const maxNodata = guardrails.max_nodata_fraction ?? DEFAULT_MAX_NODATA_FRACTION;
  const frames = inputFrames(raster, spec);
  const temporal = Boolean(spec.temporal);
  const violations: GuardrailViolation[] = [];
  const frameSummaries: FrameGuardrailSummary[] = [];
  const pooled: number[][] = names.map(() => []);
  let sampled = 0;
  let nodata = 0;
  frames.forEach((bands, frame) => {
    const plans = bandPlans(spec, bands, raster.bandCount);
    const sample = samplePixels(raster, plans, spec.nodata ?? raster.nodata, maxPixels);
    sampled += sample.sampled;
    nodata += sample.nodata;
    const date = frameDates?.[frame] ?? null;
    const label = temporal ? `frame ${frame}${date ? ` (${date})` : ''} of ${frames.length}: ` : '';
    const named = (violation: GuardrailViolation): GuardrailViolation =>
      temporal ? { ...violation, message: `${label}${violation.message}`, frame } : violation;
    const nodataFraction = sample.sampled === 0 ? 1 : sample.nodata / sample.sampled;
    if (nodataFraction > maxNodata) {
      violations.push(
        named({
          kind: 'mostly_nodata',
          bands: [],
          message: `${Math.round(nodataFraction * 100)}% of the input is nodata (more than ${Math.round(maxNodata * 100)}%)`,
        }),
      );
    }
    const sorted = plans.map((plan, index) => modelValues(plan, sample.values[index]!));
    sorted.forEach((values, index) => pooled[index]!.push(...values));
    if (ranges && sorted.some((values) => values.length > 0)) {
      violations.push(...rangeViolations(names, plans, sample, sorted, ranges, maxOutside).map(named));
    }
    if (temporal)
      frameSummaries.push({
        frame,
        date,
        nodata_fraction: round(nodataFraction) ?? 0,
        bands: bandSummaries(names, sorted, ranges),
      });
  });
  const nodataFraction = sampled === 0 ? 1 : nodata / sampled;
  return {
    ranges_from: rangesFrom,
    on_violation: guardrails.on_violation ?? 'warn',
    sampled_pixels: sampled,
    nodata_fraction: round(nodataFraction) ?? 0,
    bands: bandSummaries(
      names,
      pooled.map((values) => Float64Array.from(values).sort()),
      ranges,
    ),
    violations,
    ...(temporal ? { frames: frameSummaries } : {}),
  };
}

function rangeViolations(
  names: string[],
  plans: BandPlan[],
  sample: Sample,
  sorted: Float64Array[],
  ranges: ExpectedRange[],
  maxOutside: number,
): GuardrailViolation[] {
  const violations: GuardrailViolation[] = [];
  const bounded = (range: ExpectedRange) => Number.isFinite(range[0]) && Number.isFinite(range[1]);
  // How far each band is from its range, in range widths: spread (p2..p98) and distance of the median.
  const scale = sorted.map((values, index) => {
    const range = ranges[index]!;
    if (values.length === 0 || !bounded(range)) return { large: 0, spread: 1 };
    const width = Math.max(range[1] - range[0], 1e-12);
    const spread = (percentile(values, 0.98) - percentile(values, 0.02)) / width;
    const median = percentile(values, 0.5);
    const away = median < range[0] ? (range[0] - median) / width : median > range[1] ? (median - range[1]) / width : 0;
    return { large: Math.max(spread, away), spread };
  });
  const outside = sorted.map((values, index) => outsideFraction(values, ranges[index]!));
  const explained = new Set<number>();

  const tooLarge = names.flatMap((_, i) =>
    scale[i]!.large >= SCALE_FACTOR_TOO_LARGE && outside[i]! > maxOutside ? [i] : [],
  );
  const tooSmall = names.flatMap((_, i) =>
    sorted[i]!.length > 1 && bounded(ranges[i]!) && scale[i]!.spread <= SCALE_FACTOR_TOO_SMALL ? [i] : [],
  );
  // Scaling is one setting for every band: most bands off by the same kind of factor is a scaling problem.
  const majority = Math.max(1, Math.ceil(names.length / 2));
  if (tooLarge.length >= majority) {
    const factor = Math.round(Math.max(...tooLarge.map((i) => scale[i]!.large)));
    violations.push({
      kind: 'wrong_scaling',
      bands: tooLarge.map((i) => names[i]!),
      message:
        `input values are about ${factor}x outside the expected range in band(s) ${tooLarge.map((i) => names[i]).join(', ')}: ` +
        'this looks like digital numbers given to a model that expects reflectance; check model_input_data_spec.scaling ' +
        '(e.g. scale 0.0001 for Sentinel-2 L2A / HLS digital numbers)',
    });
    tooLarge.forEach((i) => explained.add(i));
  } else if (tooSmall.length >= majority) {
    violations.push({
      kind: 'wrong_scaling',
      bands: tooSmall.map((i) => names[i]!),
      message:
        `input values span less than ${SCALE_FACTOR_TOO_SMALL * 100}% of the expected range in band(s) ${tooSmall.map((i) => names[i]).join(', ')}: ` +
        'this looks like reflectance (already scaled) given to a model that expects digital numbers, or constant bands; ' +
        'check model_input_data_spec.scaling',
    });
    tooSmall.forEach((i) => explained.add(i));
  }

  // Two bands each outside their own range but inside each other's: swapped. Pairs are tried among a few
  // offending bands only (each try rescales two samples), so a hyperspectral input stays cheap.
  const off = names.flatMap((_, i) => (!explained.has(i) && outside[i]! > maxOutside ? [i] : []));
  const swapCandidates = off.length <= MAX_SWAP_CANDIDATES ? off : [];
  const fitsAs = (source: number, slot: number) =>
    outsideFraction(modelValues(plans[slot]!, sample.values[source]!), ranges[slot]!) <= maxOutside;
  for (const i of swapCandidates) {
    if (explained.has(i)) continue;
    const j = swapCandidates.find(
      (other) => other !== i && !explained.has(other) && fitsAs(i, other) && fitsAs(other, i),
    );
    if (j === undefined) continue;
    explained.add(i).add(j);
    violations.push({
      kind: 'swapped_bands',
      bands: [names[i]!, names[j]!],
      message: `bands ${names[i]} and ${names[j]} look swapped: each is outside its expected range and inside the other's (check the band order / source_index)`,
    });
  }
  for (const i of off) {
    if (explained.has(i)) continue;
    const values = sorted[i]!;
    const [low, high] = ranges[i]!;
    violations.push({
      kind: 'out_of_range',
      bands: [names[i]!],
      message: `band ${names[i]}: ${Math.round(outside[i]! * 100)}% of values outside the expected range [${round(low)}, ${round(high)}] (2nd..98th percentile ${round(percentile(values, 0.02))}..${round(percentile(values, 0.98))})`,
    });
  }
  return violations;
}

/** One readable line for the step message and log. */
export function guardrailSummary(report: GuardrailReport): string {
  return `input guardrails: ${report.violations.map((violation) => violation.message).join('; ')}`;
}
