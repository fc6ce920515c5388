import { frameTargets } from '../../src/geo/stac/stac-series';
import {
  encodeFrameDates,
  expandTemporalSpec,
  framesInInput,
  graphFrames,
  temporalShapeMismatch,
  tileInputShape,
} from '../../src/geo/model/temporal-input';
import { pickLeastCloudy, type StacItem } from '../../src/geo/stac/stac';
import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';

const spec = (layout: 'BCTHW' | 'BTCHW' | 'B(TC)HW'): ModelInputDataSpec => ({
  bands: [{ name: 'red' }, { name: 'nir', source_index: 3 }],
  normalization: { mean: [10, 20], std: [1, 2] },
  tile_size: 16,
  tile_overlap: 0,
  classes: [{ value: 0, name: 'a' }],
  temporal: { num_steps: 2, temporal_step: 10, temporal_tolerance: 2, layout },
});

describe('time series inputs', () => {
  it('target dates step back from the requested date, oldest first, each with a whole-day tolerance window', () => {
    const targets = frameTargets('2024-06-30', { num_steps: 3, temporal_step: 10, temporal_tolerance: 2 });
    expect(targets.map((t) => t.target_date)).toEqual(['2024-06-10', '2024-06-20', '2024-06-30']);
    expect(targets[0]!.datetime).toBe('2024-06-08T00:00:00.000Z/2024-06-12T23:59:59.999Z');
    // An interval steps back from its end day.
    expect(
      frameTargets('2024-01-01/2024-03-01', { num_steps: 2, temporal_step: 30, temporal_tolerance: 0 }).map(
        (t) => t.target_date,
      ),
    ).toEqual(['2024-01-31', '2024-03-01']);
  });

  it('planes follow the layout; every frame reads its time-major bands with its band normalisation', () => {
    const bcthw = expandTemporalSpec(spec('BCTHW'), 2);
    // 3 bands per frame (nir is source band 3): frame 1's red is band 4, its nir band 6.
    expect(bcthw.bands.map((b) => b.source_index)).toEqual([1, 4, 3, 6]);
    expect(bcthw.normalization).toEqual({ mean: [10, 10, 20, 20], std: [1, 1, 2, 2] });
    const folded = expandTemporalSpec(spec('B(TC)HW'), 2);
    expect(folded.bands.map((b) => b.source_index)).toEqual([1, 3, 4, 6]);
    expect(folded.normalization!.mean).toEqual([10, 20, 10, 20]);
    expect(tileInputShape(spec('BCTHW'), 2)).toEqual([2, 2, 16, 16]);
    expect(tileInputShape(spec('BTCHW'), 2)).toEqual([2, 2, 16, 16]);
    expect(tileInputShape(spec('B(TC)HW'), 4)).toEqual([8, 16, 16]);
    expect(framesInInput(spec('BCTHW'), 9)).toEqual({ frames: 3 });
    expect(framesInInput(spec('BCTHW'), 8)).toHaveProperty('error');
  });

  it('graph shapes: fixed T found per layout, mismatches name the field', () => {
    const temporal = spec('BCTHW').temporal!;
    expect(graphFrames(temporal, 2, ['N', 2, 5, 16, 16])).toBe(5);
    expect(graphFrames(temporal, 2, ['N', 2, 'T', 16, 16])).toBeUndefined();
    expect(graphFrames({ ...temporal, layout: 'B(TC)HW' }, 2, ['N', 6, 16, 16])).toBe(3);
    const withTemporal = spec('BTCHW') as ModelInputDataSpec & {
      temporal: NonNullable<ModelInputDataSpec['temporal']>;
    };
    expect(temporalShapeMismatch(withTemporal, 'x', ['N', 2, 2, 16, 16])).toBeNull();
    expect(temporalShapeMismatch(withTemporal, 'x', ['N', 3, 2, 16, 16])?.field).toBe(
      'model_input_data_spec.temporal.num_steps',
    );
    expect(temporalShapeMismatch(withTemporal, 'x', ['N', 2, 16, 16])?.field).toBe(
      'model_input_data_spec.temporal.layout',
    );
    expect(temporalShapeMismatch(withTemporal, 'x', ['N', 2, 2, 8, 8])?.field).toBe('model_input_data_spec.tile_size');
  });

  it('frame dates: year and day of year, or day of year', () => {
    expect(encodeFrameDates('year_doy', ['2023-12-31T10:00:00Z', '2024-03-01T00:00:00Z'])).toEqual({
      values: [2023, 365, 2024, 61],
      shape: [2, 2],
    });
    expect(encodeFrameDates('doy', ['2024-01-01T23:00:00Z'])).toEqual({ values: [1], shape: [1] });
  });

  it('among equally cloudy scenes the one nearest the target wins', () => {
    const item = (id: string, datetime: string, cover: number) =>
      ({ id, collection: 'c', properties: { datetime, 'eo:cloud_cover': cover }, assets: {} }) as unknown as StacItem;
    const items = [
      item('far', '2024-06-24T10:00:00Z', 5),
      item('near', '2024-06-19T10:00:00Z', 5),
      item('cloudy', '2024-06-20T10:00:00Z', 30),
    ];
    expect(pickLeastCloudy(items, 50, () => true, Date.parse('2024-06-20T12:00:00Z'))!.id).toBe('near');
  });
});

describe('spatial_domain.urls entries', () => {
  it('a URL or a list of URLs (a time series), each error at its own path with its own message', async () => {
    const { createInferenceSchema } = await import('../../src/api/inferences/inferences.dto');
    const parse = (urls: unknown) =>
      createInferenceSchema.safeParse({
        model_id: '6f1b8f5e-2a8c-4a8f-9d5e-1c2b3d4e5f60',
        spatial_domain: { urls },
        temporal_domain: [],
      });
    expect(parse(['https://a/x.tif', ['https://a/t0.tif', 'https://a/t1.tif']]).success).toBe(true);
    const bad = parse(['ftp://x/y.tif', ['https://a/t0.tif', 'ftp://a/t1.tif'], []]);
    expect(bad.success).toBe(false);
    const issues = bad.success ? [] : bad.error.issues.map((issue) => [issue.path.join('.'), issue.message]);
    expect(issues).toEqual(
      expect.arrayContaining([
        ['spatial_domain.urls.0', 'must be an http(s) URL'],
        ['spatial_domain.urls.1.1', 'must be an http(s) URL'],
        ['spatial_domain.urls.2', 'a time series needs at least one GeoTIFF'],
      ]),
    );
  });
});
