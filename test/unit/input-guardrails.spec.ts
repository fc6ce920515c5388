import {
  checkInputGuardrails,
  GUARDRAIL_SAMPLE_PIXELS,
  guardrailSummary,
  learnInputRanges,
  type ExpectedRange,
} from '../../src/geo/model/input-guardrails';
import type { Raster, RasterTypedArray } from '../../src/geo/raster/raster';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';

/** Reflectance ranges of six Sentinel-2 bands over a vegetated scene: each band has its own level. */
const BANDS: Array<[string, number, number]> = [
  ['blue', 0.02, 0.08],
  ['green', 0.04, 0.1],
  ['red', 0.03, 0.12],
  ['nir', 0.25, 0.45],
  ['swir16', 0.15, 0.3],
  ['swir22', 0.08, 0.2],
];
const MEAN = BANDS.map(([, low, high]) => (low + high) / 2);
const STD = BANDS.map(() => 0.05);

/** A spec for L2A digital numbers (scale 0.0001), normalised, with ranges one std wider than the bands'. */
function dnSpec(guardrails: ModelInputDataSpec['guardrails'] = {}): ModelInputDataSpec {
  return {
    bands: BANDS.map(([name]) => ({ name })),
    scaling: { scale: 0.0001, offset: 0 },
    normalization: { mean: MEAN, std: STD },
    tile_size: 64,
    tile_overlap: 0,
    nodata: 0,
    classes: [{ value: 0, name: 'a' }],
    guardrails,
  };
}

const declaredRanges: ExpectedRange[] = BANDS.map(([, low, high], i) => [
  (low - MEAN[i]!) / STD[i]! - 1,
  (high - MEAN[i]!) / STD[i]! + 1,
]);

/** A deterministic pseudo-random scene: band b uniform in its reflectance range, times `factor`. */
function scene(
  options: { size?: number; factor?: number; float?: boolean; nodataShare?: number; order?: number[] } = {},
): Raster {
  const size = options.size ?? 128;
  const pixels = size * size;
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const order = options.order ?? BANDS.map((_, i) => i);
  const bands: RasterTypedArray[] = order.map((b) => {
    const [, low, high] = BANDS[b]!;
    const values = options.float ? new Float32Array(pixels) : new Uint16Array(pixels);
    for (let i = 0; i < pixels; i++) values[i] = (low + (high - low) * random()) * (options.factor ?? 10_000);
    return values;
  });
  const nodataPixels = Math.floor(pixels * (options.nodataShare ?? 0));
  for (const band of bands) band.fill(0, 0, nodataPixels);
  return {
    width: size,
    height: size,
    bandCount: bands.length,
    dataType: options.float ? 'float32' : 'uint16',
    bands,
    georef: {} as Raster['georef'],
    nodata: null,
  };
}

describe('input guardrails (sample statistics rules)', () => {
  it('a correctly scaled input within the declared ranges has no violation, with per-band statistics', () => {
    const report = checkInputGuardrails(scene(), dnSpec(), { input_ranges: declaredRanges });
    expect(report.violations).toEqual([]);
    expect(report).toMatchObject({ ranges_from: 'declared', on_violation: 'warn', nodata_fraction: 0 });
    expect(report.sampled_pixels).toBe(GUARDRAIL_SAMPLE_PIXELS);
    expect(report.bands.map((band) => band.name)).toEqual(BANDS.map(([name]) => name));
    for (const band of report.bands) {
      expect(band.outside_fraction).toBe(0);
      // Uniform over mean +- 0.6..1 std: the median sits near 0 in model-input units.
      expect(Math.abs(band.p50!)).toBeLessThan(0.2);
    }
  });

  it('digital numbers given to a reflectance model (no scaling): wrong_scaling, naming scaling', () => {
    const reflectanceSpec = { ...dnSpec(), scaling: undefined };
    const report = checkInputGuardrails(scene(), reflectanceSpec, { input_ranges: declaredRanges });
    expect(report.violations).toHaveLength(1);
    expect(report.violations[0]).toMatchObject({ kind: 'wrong_scaling', bands: BANDS.map(([name]) => name) });
    expect(report.violations[0]!.message).toMatch(/digital numbers given to a model that expects reflectance/);
    expect(report.violations[0]!.message).toMatch(/model_input_data_spec\.scaling/);
    expect(guardrailSummary(report)).toMatch(/^input guardrails: input values are about \d+x outside/);
  });

  it('reflectance given to a model that expects digital numbers: wrong_scaling (values span far too little)', () => {
    const report = checkInputGuardrails(scene({ factor: 1, float: true }), dnSpec(), { input_ranges: declaredRanges });
    expect(report.violations.map((violation) => violation.kind)).toEqual(['wrong_scaling']);
    expect(report.violations[0]!.message).toMatch(
      /reflectance \(already scaled\) given to a model that expects digital/,
    );
  });

  it("swapped bands: each outside its own range and inside the other one's", () => {
    const order = [3, 1, 2, 0, 4, 5]; // nir where blue belongs and blue where nir belongs
    const report = checkInputGuardrails(scene({ order }), dnSpec(), { input_ranges: declaredRanges });
    expect(report.violations).toEqual([expect.objectContaining({ kind: 'swapped_bands', bands: ['blue', 'nir'] })]);
    expect(report.violations[0]!.message).toMatch(/bands blue and nir look swapped/);
  });

  it('one band out of its range is named with its share outside and percentiles', () => {
    const raster = scene();
    (raster.bands[2] as Uint16Array).forEach((value, i, band) => (band[i] = value + 2000)); // red +0.2
    const report = checkInputGuardrails(raster, dnSpec(), { input_ranges: declaredRanges });
    expect(report.violations).toEqual([expect.objectContaining({ kind: 'out_of_range', bands: ['red'] })]);
    expect(report.violations[0]!.message).toMatch(/band red: 100% of values outside the expected range/);
    expect(report.bands[2]!.outside_fraction).toBe(1);
  });

  it('mostly nodata: the share of nodata pixels over max_nodata_fraction; a smaller share passes', () => {
    const mostly = checkInputGuardrails(scene({ nodataShare: 0.7 }), dnSpec(), {});
    expect(mostly.violations.map((violation) => violation.kind)).toEqual(['mostly_nodata']);
    expect(mostly.nodata_fraction).toBeCloseTo(0.7, 1);
    expect(mostly.violations[0]!.message).toMatch(/^70% of the input is nodata \(more than 50%\)/);
    expect(checkInputGuardrails(scene({ nodataShare: 0.3 }), dnSpec(), {}).violations).toEqual([]);
    expect(
      checkInputGuardrails(scene({ nodataShare: 0.3 }), dnSpec(), { max_nodata_fraction: 0.2 }).violations,
    ).toHaveLength(1);
    // Nodata pixels do not count as values outside the ranges.
    const withRanges = checkInputGuardrails(scene({ nodataShare: 0.3 }), dnSpec(), { input_ranges: declaredRanges });
    expect(withRanges.violations).toEqual([]);
  });

  it('ranges learned from a golden input: another scene of the same kind passes, a wrongly scaled one does not', () => {
    const learned = learnInputRanges(scene({ size: 64 }), dnSpec());
    expect(learned).toHaveLength(BANDS.length);
    const ok = checkInputGuardrails(scene({ size: 100 }), dnSpec(), {}, learned);
    expect(ok).toMatchObject({ ranges_from: 'golden', violations: [] });
    const wrong = checkInputGuardrails(scene({ size: 100 }), { ...dnSpec(), scaling: undefined }, {}, learned);
    expect(wrong.violations.map((violation) => violation.kind)).toEqual(['wrong_scaling']);
    // Declared ranges win over learned ones.
    expect(checkInputGuardrails(scene(), dnSpec(), { input_ranges: declaredRanges }, learned).ranges_from).toBe(
      'declared',
    );
  });

  it('samples at most GUARDRAIL_SAMPLE_PIXELS pixels of a large raster, spread over all of it', () => {
    const raster = scene({ size: 1000, nodataShare: 0.5 });
    const report = checkInputGuardrails(raster, dnSpec(), {});
    expect(report.sampled_pixels).toBeLessThanOrEqual(GUARDRAIL_SAMPLE_PIXELS);
    expect(report.sampled_pixels).toBeGreaterThan(GUARDRAIL_SAMPLE_PIXELS * 0.9);
    // Half the rows are nodata: a sample of the first rows only would say 100%.
    expect(report.nodata_fraction).toBeCloseTo(0.5, 1);
  });

  it('on_violation is reported as the spec sets it', () => {
    const report = checkInputGuardrails(scene({ nodataShare: 0.9 }), dnSpec(), { on_violation: 'fail' });
    expect(report.on_violation).toBe('fail');
  });
});

describe('input guardrails on a time series input (every frame is checked)', () => {
  /** The DN spec as a 3-step time series: the input holds 3 frames of the 6 bands, time-major. */
  const seriesSpec = (): ModelInputDataSpec => ({
    ...dnSpec(),
    temporal: { num_steps: 3, temporal_step: 10, temporal_tolerance: 3, layout: 'BCTHW' },
  });
  /** A time-major raster of the given frames (band t * 6 + s is band s of frame t). */
  function series(frames: Raster[]): Raster {
    const bands = frames.flatMap((frame) => frame.bands);
    return { ...frames[0]!, bands, bandCount: bands.length };
  }
  const DATES = ['2024-05-12', '2024-05-22', '2024-06-01'];

  it('a clean series has no violation; statistics per frame and pooled over the frames', () => {
    const report = checkInputGuardrails(
      series([scene(), scene(), scene()]),
      seriesSpec(),
      { input_ranges: declaredRanges },
      undefined,
      GUARDRAIL_SAMPLE_PIXELS,
      DATES,
    );
    expect(report.violations).toEqual([]);
    expect(report.sampled_pixels).toBe(3 * GUARDRAIL_SAMPLE_PIXELS);
    expect(report.bands.map((band) => band.name)).toEqual(BANDS.map(([name]) => name));
    expect(report.frames!.map((frame) => [frame.frame, frame.date, frame.nodata_fraction])).toEqual([
      [0, DATES[0], 0],
      [1, DATES[1], 0],
      [2, DATES[2], 0],
    ]);
    for (const frame of report.frames!) expect(frame.bands.every((band) => band.outside_fraction === 0)).toBe(true);
  });

  it('per-band ranges apply to every frame: swapped bands in frame 1 and a mostly-nodata frame 2 are named', () => {
    const raster = series([scene(), scene({ order: [3, 1, 2, 0, 4, 5] }), scene({ nodataShare: 0.8 })]);
    const report = checkInputGuardrails(
      raster,
      seriesSpec(),
      { input_ranges: declaredRanges },
      undefined,
      GUARDRAIL_SAMPLE_PIXELS,
      DATES,
    );
    expect(report.violations).toEqual([
      expect.objectContaining({ kind: 'swapped_bands', bands: ['blue', 'nir'], frame: 1 }),
      expect.objectContaining({ kind: 'mostly_nodata', frame: 2 }),
    ]);
    expect(report.violations[0]!.message).toMatch(/^frame 1 \(2024-05-22\) of 3: bands blue and nir look swapped/);
    expect(report.violations[1]!.message).toMatch(/^frame 2 \(2024-06-01\) of 3: 80% of the input is nodata/);
    expect(guardrailSummary(report)).toMatch(/frame 1 \(2024-05-22\) of 3: .*; frame 2 \(2024-06-01\) of 3: /);
    expect(report.frames![0]!.bands.every((band) => band.outside_fraction === 0)).toBe(true);
    expect(report.frames![1]!.bands[0]!.outside_fraction).toBe(1);
    expect(report.frames![2]!.nodata_fraction).toBeCloseTo(0.8, 1);
    // Over all frames a third of the pixels are nodata.
    expect(report.nodata_fraction).toBeCloseTo(0.8 / 3, 1);
  });

  it('reflectance (already scaled) in the last frame only, the others digital numbers: a wrong scaling of that frame', () => {
    const raster = series([scene(), scene(), scene({ factor: 1, float: true })]);
    const report = checkInputGuardrails(raster, seriesSpec(), { input_ranges: declaredRanges });
    expect(report.violations).toEqual([expect.objectContaining({ kind: 'wrong_scaling', frame: 2 })]);
    // Without dates the frame is named by its index.
    expect(report.violations[0]!.message).toMatch(/^frame 2 of 3: input values span less than/);
  });

  it('a single-date model is checked as before: no frame in the messages or the report', () => {
    const report = checkInputGuardrails(scene({ nodataShare: 0.7 }), dnSpec(), {});
    expect(report.frames).toBeUndefined();
    expect(report.violations[0]).not.toHaveProperty('frame');
    expect(report.violations[0]!.message).toMatch(/^70% of the input is nodata/);
  });
});
