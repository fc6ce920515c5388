import { modelInputDataSpecSchema } from '../../../src/api/models/models.dto';
import { outputKindProblems } from '../../../src/api/models/output-kind.dto';
import { checkChipSize } from '../../../src/api/inferences/chip-size';
import { createInferenceSchema } from '../../../src/api/inferences/inferences.dto';
import { ApiError } from '../../../src/api/http/api-error';
import { colormapHex, colormapTable, COLORMAP_NAMES } from '../../../src/geo/tiles/colormaps';
import { probabilitiesToPercent, softmaxInPlace } from '../../../src/geo/model/continuous';
import type { ModelInputDataSpec } from '../../../workflows/contract/model-spec';
import { rampStyleSld } from '../../../src/geo/publish/ramp-style';
import { displayRange, legendOf, legendPng, rampColourMap } from '../../../src/geo/tiles/legend';

const base = { bands: [{ name: 'a' }], tile_size: 64, tile_overlap: 8 };
const classes = [
  { value: 0, name: 'clear' },
  { value: 1, name: 'cloud' },
];

function issuePaths(spec: unknown): string[] {
  const parsed = modelInputDataSpecSchema.safeParse(spec);
  return parsed.success ? [] : parsed.error.issues.map((issue) => issue.path.join('.'));
}

describe('model spec task types (issue 14 item 2)', () => {
  it('accepts a regression spec without classes and stores classes as []', () => {
    const parsed = modelInputDataSpecSchema.parse({
      ...base,
      task_type: 'regression',
      units: 'Mg/ha',
      output_nodata: 'NaN',
      output_scale: 0.1,
      output_offset: 2,
      rescale: [0, 300],
      colormap: 'magma',
    });
    expect(parsed.classes).toEqual([]);
    expect(parsed.output_nodata).toBe('NaN');
  });

  it('keeps segmentation specs as before (classes required, default task type)', () => {
    expect(issuePaths({ ...base, classes })).toEqual([]);
    expect(issuePaths({ ...base })).toEqual(['classes']);
    expect(issuePaths({ ...base, classes, output_nodata: 'NaN' })).toEqual(['output_nodata']);
    expect(issuePaths({ ...base, classes, output_nodata: 1 })).toEqual(['output_nodata']);
  });

  it('names the field of every mismatch (422 at registration)', () => {
    const problems = (spec: Record<string, unknown>) => {
      expect(issuePaths(spec)).toEqual([]); // well-formed: zod lets it through, the registration check refuses it
      return outputKindProblems(modelInputDataSpecSchema.parse(spec)).map((problem) => problem.field);
    };
    expect(problems({ ...base, task_type: 'regression', classes })).toEqual(['classes']);
    expect(problems({ ...base, task_type: 'regression', probabilities: true })).toEqual(['probabilities']);
    expect(problems({ ...base, task_type: 'regression', vectors: {} })).toEqual(['vectors']);
    expect(problems({ ...base, task_type: 'regression', colormap: 'rainbowish' })).toEqual(['colormap']);
    expect(problems({ ...base, task_type: 'regression', rescale: [5, 5] })).toEqual(['rescale']);
    expect(problems({ ...base, task_type: 'regression', rescale: [6, 5] })).toEqual(['rescale']);
    expect(problems({ ...base, classes, units: 'm' })).toEqual(['units']);
    expect(problems({ ...base, classes, colormap: 'viridis' })).toEqual(['colormap']);
    expect(problems({ ...base, task_type: 'regression', colormap: 'magma', rescale: [0, 1] })).toEqual([]);
  });

  it('refuses malformed fields with the schema (400 naming the field)', () => {
    expect(issuePaths({ ...base, classes, probabilities: 'float16' })).toEqual(['probabilities']);
    expect(issuePaths({ ...base, task_type: 'classification', classes })).toEqual(['task_type']);
    expect(issuePaths({ ...base, classes, input_size: 'any' })).toEqual(['input_size']);
  });

  it('accepts probabilities on segmentation as true, uint8 or float32', () => {
    for (const probabilities of [true, false, 'uint8', 'float32'])
      expect(issuePaths({ ...base, classes, probabilities })).toEqual([]);
  });
});

describe('chip_size (issue 14 item 3)', () => {
  const spec = (input_size: 'fixed' | 'dynamic' | undefined): ModelInputDataSpec => ({
    ...base,
    classes,
    ...(input_size ? { input_size } : {}),
  });
  const refusal = (run: () => void): ApiError | undefined => {
    try {
      run();
    } catch (error) {
      return error as ApiError;
    }
    return undefined;
  };

  it('is an integer field of the request body', () => {
    const request = {
      model_id: '00000000-0000-4000-8000-000000000001',
      spatial_domain: { urls: ['https://x.org/a.tif'] },
      temporal_domain: [],
    };
    expect(createInferenceSchema.safeParse({ ...request, chip_size: 128 }).success).toBe(true);
    const bad = createInferenceSchema.safeParse({ ...request, chip_size: 12.5 });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['chip_size']);
  });

  it('runs dynamic models at any size and fixed ones only at tile_size', () => {
    expect(refusal(() => checkChipSize(128, spec('dynamic')))).toBeUndefined();
    expect(refusal(() => checkChipSize(64, spec('fixed')))).toBeUndefined();
    expect(refusal(() => checkChipSize(undefined, spec('fixed')))).toBeUndefined();
    for (const fixed of [spec('fixed'), spec(undefined)]) {
      const error = refusal(() => checkChipSize(128, fixed));
      expect(error?.getStatus()).toBe(422);
      expect(error?.getResponse()).toMatchObject({ field: 'chip_size' });
    }
    expect(refusal(() => checkChipSize(16, spec('dynamic')))?.getResponse()).toMatchObject({ field: 'chip_size' });
  });
});

describe('continuous outputs', () => {
  it('rounds probabilities to percent bands that sum to exactly 100', () => {
    const pixels = 50;
    const values = new Float32Array(pixels * 3);
    for (let i = 0; i < pixels; i++) {
      const logits = Float64Array.from([Math.sin(i), Math.cos(i * 1.7), i / 25]);
      softmaxInPlace(logits);
      logits.forEach((p, c) => (values[c * pixels + i] = p));
    }
    const percent = probabilitiesToPercent(values, pixels, 3, null);
    for (let i = 0; i < pixels; i++) {
      expect(percent[i]! + percent[pixels + i]! + percent[2 * pixels + i]!).toBe(100);
      for (let c = 0; c < 3; c++)
        expect(Math.abs(percent[c * pixels + i]! - values[c * pixels + i]! * 100)).toBeLessThan(1);
    }
  });

  it('ships matplotlib colormap tables of 256 entries', () => {
    expect(COLORMAP_NAMES).toEqual(
      expect.arrayContaining(['viridis', 'magma', 'plasma', 'inferno', 'cividis', 'gray']),
    );
    for (const name of COLORMAP_NAMES) expect(colormapTable(name).length).toBe(768);
    // matplotlib's viridis runs from #440154 to #fde725.
    expect(colormapHex('viridis', 0)).toBe('#440154');
    expect(colormapHex('viridis', 1)).toBe('#fde725');
  });
});

describe('regression styles and legends', () => {
  const spec: ModelInputDataSpec = {
    ...base,
    classes: [],
    task_type: 'regression',
    units: 'm',
    rescale: [10, 50],
    colormap: 'magma',
  };

  it('builds a GeoServer ColorMap ramp of the colormap over rescale', () => {
    const sld = rampStyleSld('height', { colormap: 'magma', min: 10, max: 50, units: 'm' });
    expect(sld).toMatch(/<ColorMap type="ramp">/);
    const entries = [...sld.matchAll(/<ColorMapEntry color="(#[0-9a-f]{6})" quantity="([^"]+)"/g)];
    expect(entries).toHaveLength(9);
    expect(entries[0]!.slice(1)).toEqual([colormapHex('magma', 0), '10']);
    expect(entries[8]!.slice(1)).toEqual([colormapHex('magma', 1), '50']);
  });

  it('colours values over the display range and leaves nodata transparent', () => {
    const colours = rampColourMap('magma', displayRange(spec), Number.NaN);
    expect(colours.indexOf(Number.NaN)).toBe(0);
    expect(colours.indexOf(10)).toBe(1);
    expect(colours.indexOf(-5)).toBe(1);
    expect(colours.indexOf(50)).toBe(255);
    expect(colours.indexOf(1000)).toBe(255);
    expect(colours.palette[0]![3]).toBe(0);
    // Without rescale: the observed range of the step result.
    expect(displayRange({ ...spec, rescale: undefined }, { min: 2, max: 8 })).toEqual([2, 8]);
  });

  it('answers a colorbar legend for regression and class swatches for segmentation', () => {
    expect(legendOf(spec)).toMatchObject({ type: 'colorbar', colormap: 'magma', min: 10, max: 50, units: 'm' });
    const classesLegend = legendOf({ ...base, classes: [{ value: 1, name: 'cloud', color: '#ffffff' }] });
    expect(classesLegend).toMatchObject({ type: 'classes', classes: [{ value: 1, name: 'cloud', color: '#ffffff' }] });
    const png = legendPng(legendOf(spec));
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([256, 20]);
  });
});
