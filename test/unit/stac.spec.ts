import { applyPostProcessing, flagged } from '../../src/geo/post-processing/post-processing';
import { mgrsQuery, mgrsTileBbox, polygonGeometry, SpatialDomainError } from '../../src/geo/stac/spatial-domain';
import {
  assetKeysForBands,
  classificationAssetKey,
  dataSourceDefinition,
  pickLeastCloudy,
  searchStac,
  stacApiFor,
  type StacItem,
} from '../../src/geo/stac/stac';
import { inInterval, parseTemporalEntry, TemporalDomainError } from '../../src/geo/stac/temporal-domain';
import { buildTaskInputs } from '../../src/api/inferences/task-inputs';
import { loadConfig } from '../../src/platform/config/config';
import { startStacDouble } from '../support/stac-double';

describe('temporal_domain entries', () => {
  it('reads a date as that whole UTC day', () => {
    const day = parseTemporalEntry('2024-06-15');
    expect(day.datetime).toBe('2024-06-15T00:00:00.000Z/2024-06-15T23:59:59.999Z');
    expect(inInterval('2024-06-15T23:59:59Z', day)).toBe(true);
    expect(inInterval('2024-06-16T00:00:00Z', day)).toBe(false);
  });

  it('reads intervals of dates and of RFC 3339 date-times', () => {
    expect(parseTemporalEntry('2024-06-01/2024-06-30').datetime).toBe(
      '2024-06-01T00:00:00.000Z/2024-06-30T23:59:59.999Z',
    );
    expect(parseTemporalEntry('2024-06-01T10:00:00+02:00/2024-06-01T12:00:00Z').datetime).toBe(
      '2024-06-01T08:00:00.000Z/2024-06-01T12:00:00.000Z',
    );
    expect(parseTemporalEntry('2024-06-15/2024-06-15').datetime).toBe(parseTemporalEntry('2024-06-15').datetime);
  });

  it.each([
    ['2024-02-30', /not a real calendar date/],
    ['2024-6-1', /must be a date YYYY-MM-DD/],
    ['2024-06-16/2024-06-14', /end is before the start/],
    ['2024-06-01/2024-06-02/2024-06-03', /interval start\/end/],
    ['2024-06-01T10:00:00/2024-06-02', /RFC 3339/],
  ])('refuses %s', (entry, message) => {
    expect(() => parseTemporalEntry(entry)).toThrow(TemporalDomainError);
    expect(() => parseTemporalEntry(entry)).toThrow(message);
  });
});

describe('spatial domains', () => {
  it('accepts Polygons, MultiPolygons and Features, and says what is wrong otherwise', () => {
    const square = {
      type: 'Polygon',
      coordinates: [
        [
          [16, 48],
          [16.1, 48],
          [16.1, 48.1],
          [16, 48.1],
          [16, 48],
        ],
      ],
    };
    expect(polygonGeometry(square)).toEqual(square);
    expect(polygonGeometry({ type: 'Feature', properties: {}, geometry: square })).toEqual(square);
    expect(polygonGeometry({ type: 'MultiPolygon', coordinates: [square.coordinates] }).type).toBe('MultiPolygon');
    const bad: Array<[unknown, RegExp]> = [
      [{ type: 'Point', coordinates: [16, 48] }, /Polygon or MultiPolygon/],
      [
        {
          type: 'Polygon',
          coordinates: [
            [
              [16, 48],
              [16.1, 48],
              [16, 48],
            ],
          ],
        },
        /at least 4 positions/,
      ],
      [
        {
          type: 'Polygon',
          coordinates: [
            [
              [16, 48],
              [16.1, 48],
              [16.1, 48.1],
              [16, 48.1],
            ],
          ],
        },
        /not closed/,
      ],
      [
        {
          type: 'Polygon',
          coordinates: [
            [
              [16, 48],
              [200, 48],
              [16.1, 48.1],
              [16, 48],
            ],
          ],
        },
        /outside WGS84/,
      ],
      [
        {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [3, 2],
              [3, 0],
              [0, 3],
              [0, 0],
            ],
          ],
        },
        /self-intersecting/,
      ],
    ];
    for (const [value, message] of bad) expect(() => polygonGeometry(value)).toThrow(message);
  });

  it('maps MGRS tile ids to their 100 km square and the Earth Search tile properties', () => {
    const [minX, minY, maxX, maxY] = mgrsTileBbox('33UXP');
    expect(minX).toBeCloseTo(16.34, 1);
    expect(minY).toBeCloseTo(47.85, 1);
    expect(maxX - minX).toBeGreaterThan(1.3);
    expect(maxY - minY).toBeGreaterThan(0.85);
    expect(mgrsQuery('33UXP')).toEqual({
      'mgrs:utm_zone': { eq: 33 },
      'mgrs:latitude_band': { eq: 'U' },
      'mgrs:grid_square': { eq: 'XP' },
    });
    expect(() => mgrsTileBbox('33UXZ')).toThrow(SpatialDomainError);
  });

  it('builds one task per area x date, in request order, with maxcc defaulting to 100', () => {
    const inputs = buildTaskInputs(
      {
        spatial_domain: { urls: ['http://x/a.tif'], bbox: [[16.4, 48.1, 16.45, 48.15]], tiles: ['33UXP'] },
        temporal_domain: ['2024-06-15', '2024-06-01/2024-06-30'],
      },
      { resolutionM: 500, maxChipPixels: 25_000_000 },
    );
    expect(inputs.map((input) => (input.kind === 'stac' ? `${input.area_label}@${input.date}` : input.kind))).toEqual([
      'url',
      'bbox [16.4,48.1,16.45,48.15]@2024-06-15',
      'bbox [16.4,48.1,16.45,48.15]@2024-06-01/2024-06-30',
      'tile 33UXP@2024-06-15',
      'tile 33UXP@2024-06-01/2024-06-30',
    ]);
    expect(inputs[1]).toMatchObject({
      kind: 'stac',
      data_source: 'sentinel-2-l2a',
      maxcc: 100,
      datetime: '2024-06-15T00:00:00.000Z/2024-06-15T23:59:59.999Z',
    });
    expect(() =>
      buildTaskInputs(
        { spatial_domain: { tiles: ['33UXP'] }, temporal_domain: ['2024-06-15'] },
        { resolutionM: 10, maxChipPixels: 25_000_000 },
      ),
    ).toThrow(/CHIP_MAX_PIXELS/);
  });

  it('admits a whole MGRS tile at 10 m with the default CHIP_MAX_PIXELS, and a Sentinel-2 tile grid of 10980^2', () => {
    const { CHIP_MAX_PIXELS } = loadConfig({ DATA_DIR: '/tmp/x' });
    expect(CHIP_MAX_PIXELS).toBeGreaterThanOrEqual(10980 * 10980);
    for (const tile of ['33UXP', '35VLC', '18SUJ', '60WWT', '31NEA'])
      expect(
        buildTaskInputs(
          { spatial_domain: { tiles: [tile] }, temporal_domain: ['2024-06-15'] },
          { resolutionM: 10, maxChipPixels: CHIP_MAX_PIXELS },
        ),
      ).toHaveLength(1);
    // A bbox of two tiles side by side is still refused.
    const [w, s, , n] = mgrsTileBbox('33UXP');
    const [, , e] = mgrsTileBbox('33UYP');
    expect(() =>
      buildTaskInputs(
        { spatial_domain: { bbox: [[w, s, e + (e - w), n]] }, temporal_domain: ['2024-06-15'] },
        { resolutionM: 10, maxChipPixels: CHIP_MAX_PIXELS },
      ),
    ).toThrow(/CHIP_MAX_PIXELS/);
  });
});

describe('STAC search and item choice', () => {
  const item = (
    id: string,
    cloud: number | undefined,
    bbox = [16, 48, 17, 49],
    collection = 'sentinel-2-l2a',
  ): StacItem => ({
    id,
    collection,
    bbox,
    properties: { datetime: '2024-06-15T10:00:00Z', ...(cloud === undefined ? {} : { 'eo:cloud_cover': cloud }) },
    assets: {},
  });

  it('picks the least cloudy item within maxcc even when the server ignored the query, skipping duplicates', () => {
    const items = [item('cloudy', 80), item('no-cover', undefined), item('ok', 20), item('best', 10), item('best', 10)];
    expect(pickLeastCloudy(items, 30)?.id).toBe('best');
    expect(pickLeastCloudy(items, 30, (candidate) => candidate.id !== 'best')?.id).toBe('ok');
    expect(pickLeastCloudy(items, 5)).toBeUndefined();
  });

  it('follows next links, merging the POST body, until the last page', async () => {
    const items = Array.from({ length: 7 }, (_, index) => ({
      id: `i${index}`,
      collection: 'c',
      bbox: [0, 0, 1, 1] as [number, number, number, number],
      properties: { datetime: '2024-06-15T10:00:00Z', 'eo:cloud_cover': index },
      assets: {},
    }));
    const double = await startStacDouble(items, { maxPageSize: 3 });
    try {
      const pages: number[] = [];
      const result = await searchStac(
        double.url,
        { collections: ['c'], bbox: [0, 0, 1, 1], datetime: '2024-06-15T00:00:00Z/2024-06-15T23:59:59Z', limit: 100 },
        { maxPages: 10, timeoutMs: 5000, onPage: (page) => pages.push(page) },
      );
      expect(result.items.map((found) => found.id)).toEqual(items.map((found) => found.id));
      expect(pages).toEqual([1, 2, 3]);
      expect(
        double.requests.slice(1).every((body) => body.collections[0] === 'c' && typeof body.next === 'string'),
      ).toBe(true);
      const capped = await searchStac(
        double.url,
        { collections: ['c'], datetime: '2024-06-15T00:00:00Z/2024-06-15T23:59:59Z', limit: 100 },
        { maxPages: 2, timeoutMs: 5000 },
      );
      expect(capped.items).toHaveLength(6);
    } finally {
      await double.close();
    }
  });
});

describe('band names to asset keys', () => {
  const bands = ['blue', 'green', 'red', 'nir', 'swir16', 'swir22'];

  it('Earth Search sentinel-2-l2a: asset keys are the band names, scl the classification', () => {
    const source = dataSourceDefinition('sentinel-2-l2a', 'sentinel-2-l2a');
    expect(assetKeysForBands(source, 'sentinel-2-l2a', [...bands, 'nir08'])).toEqual({
      keys: [...bands, 'nir08'],
      missing: [],
    });
    expect(classificationAssetKey(source, 'sentinel-2-l2a')).toBe('scl');
    expect(assetKeysForBands(source, 'sentinel-2-l2a', ['thermal']).missing).toEqual(['thermal']);
  });

  it('HLS: S30 and L30 numbering, Fmask', () => {
    const source = dataSourceDefinition('hls', 'sentinel-2-l2a');
    expect(source.collections).toEqual(['HLSS30_2.0', 'HLSL30_2.0']);
    expect(assetKeysForBands(source, 'HLSS30_2.0', bands).keys).toEqual(['B02', 'B03', 'B04', 'B8A', 'B11', 'B12']);
    expect(assetKeysForBands(source, 'HLSL30_2.0', bands).keys).toEqual(['B02', 'B03', 'B04', 'B05', 'B06', 'B07']);
    expect(assetKeysForBands(source, 'HLSL30_2.0', ['rededge1']).missing).toEqual(['rededge1']);
    // Models may name HLS bands by asset key.
    expect(assetKeysForBands(source, 'HLSS30_2.0', ['B04']).keys).toEqual(['B04']);
    expect(classificationAssetKey(source, 'HLSL30_2.0')).toBe('Fmask');
  });

  it('checks that the item really has the assets', () => {
    const source = dataSourceDefinition('sentinel-2-l2a', 'sentinel-2-l2a');
    const item: StacItem = { id: 'x', properties: {}, assets: { blue: { href: 'http://x/b.tif' } } };
    expect(assetKeysForBands(source, undefined, ['blue', 'red'], item)).toEqual({ keys: ['blue'], missing: ['red'] });
  });
});

describe('imagery sources', () => {
  const settings = {
    STAC_API_URL: 'https://earth-search.example/v1',
    HLS_STAC_API_URL: 'https://cmr.example/stac/LPCLOUD',
    EARTHDATA_TOKEN: 'token',
    STAC_COLLECTION: 'sentinel-2-l2a',
  };

  it('searches each source at its own API setting, sending the Earthdata token only to HLS', () => {
    expect(stacApiFor('sentinel-2-l2a', settings)).toEqual({ url: 'https://earth-search.example/v1', headers: {} });
    expect(stacApiFor('hls', settings)).toEqual({
      url: 'https://cmr.example/stac/LPCLOUD',
      headers: { Authorization: 'Bearer token' },
    });
    expect(stacApiFor('hls', { ...settings, EARTHDATA_TOKEN: undefined }).headers).toEqual({});
  });

  it('STAC_COLLECTION replaces the Sentinel-2 collection, not those of HLS', () => {
    expect(dataSourceDefinition('sentinel-2-l2a', 'mirror-s2').collections).toEqual(['mirror-s2']);
    expect(dataSourceDefinition('hls', 'mirror-s2').collections).toEqual(['HLSS30_2.0', 'HLSL30_2.0']);
  });
});

describe('post_processing masks', () => {
  it('SCL: 3, 8, 9, 10 are clouds, 11 snow', () => {
    expect([0, 3, 4, 8, 9, 10, 11].filter((value) => flagged('scl', 'cloud_masking', value))).toEqual([3, 8, 9, 10]);
    expect([3, 6, 11].filter((value) => flagged('scl', 'snow_ice_masking', value))).toEqual([11]);
  });

  it('Fmask bits: 1-3 cloud, 4 snow/ice; 255 is fill', () => {
    expect(flagged('fmask', 'cloud_masking', 0b10)).toBe(true);
    expect(flagged('fmask', 'cloud_masking', 0b100)).toBe(true);
    expect(flagged('fmask', 'cloud_masking', 0b1000)).toBe(true);
    expect(flagged('fmask', 'cloud_masking', 0b100001)).toBe(false); // cirrus bit 0 + water bit 5
    expect(flagged('fmask', 'snow_ice_masking', 0b10000)).toBe(true);
    expect(flagged('fmask', 'cloud_masking', 255)).toBe(false);
  });

  it('sets flagged pixels to nodata and counts them per option', () => {
    const mask = Uint8Array.from([0, 1, 2, 255, 1, 0]);
    const counts = applyPostProcessing(
      mask,
      255,
      { cloud_masking: true, snow_ice_masking: true, permanent_water_masking: true },
      {
        classification: { scheme: 'scl', values: [9, 4, 11, 9, 3, 4] },
        permanentWater: [0, 0, 0, 0, 1, 1],
      },
    );
    expect(Array.from(mask)).toEqual([255, 1, 255, 255, 255, 255]);
    expect(counts).toEqual({ cloud_masking: 2, snow_ice_masking: 1, permanent_water_masking: 1 });
  });
});
