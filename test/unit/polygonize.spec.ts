import { modelInputDataSpecSchema } from '../../src/api/models/models.dto';
import { polygonizeMask, ringArea, simplifyRing } from '../../src/geo/export/polygonize';
import { footprint } from '../../src/geo/export/stac-catalog';
import { epsgDefinition, hasMetreUnits, lonLatTransform, UnsupportedCrsError } from '../../src/geo/crs/epsg';
import { itemTime, previewBands } from '../../activities/export-results';

/** A mask from rows of digits ('.' = 0). */
function mask(rows: string[]): { values: Uint8Array; width: number; height: number } {
  const width = rows[0]!.length;
  const values = new Uint8Array(
    rows
      .join('')
      .split('')
      .map((c) => (c === '.' ? 0 : Number(c))),
  );
  return { values, width, height: rows.length };
}

describe('polygonizeMask', () => {
  it('keeps holes, and a ring of pixels is one polygon with one hole', () => {
    const { values, width, height } = mask(['.....', '.111.', '.1.1.', '.111.', '.....']);
    const components = [...polygonizeMask(values, width, height, { skipValues: [0] })];
    expect(components).toHaveLength(1);
    expect(components[0]).toMatchObject({ value: 1, pixelCount: 8 });
    const [exterior, hole] = components[0]!.rings;
    expect(components[0]!.rings).toHaveLength(2);
    expect(ringArea(exterior!)).toBe(9);
    expect(ringArea(hole!)).toBe(-1);
    expect(exterior).toEqual([
      [1, 1],
      [4, 1],
      [4, 4],
      [1, 4],
      [1, 1],
    ]);
  });

  it('keeps diagonal neighbours apart (4-connectivity) and leaves skipped values out', () => {
    const { values, width, height } = mask(['1.', '.1']);
    const components = [...polygonizeMask(values, width, height, { skipValues: [0] })];
    expect(components.map((c) => [c.value, c.pixelCount, ringArea(c.rings[0]!)])).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
  });

  it('makes one polygon of a loop whose hole touches the outside diagonally (the walk turns right at the pinch)', () => {
    // An L-shaped loop around a hole that touches the outside diagonally: the walk turns right at the pinch.
    const { values, width, height } = mask(['2222', '2..2', '22.2', '.222']);
    const components = [...polygonizeMask(values, width, height, { skipValues: [0] })];
    expect(components).toHaveLength(1);
    const area = components[0]!.rings.reduce((sum, ring) => sum + ringArea(ring), 0);
    expect(area).toBe(components[0]!.pixelCount);
    expect(components[0]!.pixelCount).toBe(12);
  });

  it('simplifies rings but never below a triangle', () => {
    const ring: Array<[number, number]> = [
      [0, 0],
      [5, 0.1],
      [10, 0],
      [10, 10],
      [0, 10],
      [0, 0],
    ];
    expect(simplifyRing(ring, 0.5)).toHaveLength(5);
    expect(simplifyRing(ring, 0)).toBe(ring);
  });
});

describe('EPSG index', () => {
  it('defines codes beyond WGS 84 / Web Mercator / UTM, and refuses unknown ones clearly', () => {
    expect(epsgDefinition(3035)?.name).toBe('ETRS89-extended / LAEA Europe');
    expect(hasMetreUnits(3035)).toBe(true);
    expect(hasMetreUnits(4326)).toBe(false);
    const [x, y] = lonLatTransform(2056).forward([7.44, 46.95]); // Swiss CH1903+ / LV95, Bern
    expect(x).toBeCloseTo(2600000, -3);
    expect(y).toBeCloseTo(1200000, -3);
    expect(() => lonLatTransform(999999)).toThrow(UnsupportedCrsError);
    expect(() => lonLatTransform(null)).toThrow(/no EPSG code/);
  });

  it('gives a WGS 84 footprint of a projected grid, counter-clockwise', () => {
    const { geometry, bbox } = footprint({
      epsg: 32633,
      transform: [10, 0, 600000, 0, -10, 5400000],
      width: 100,
      height: 100,
    });
    expect(ringArea(geometry.coordinates[0] as Array<[number, number]>)).toBeGreaterThan(0);
    expect(bbox[0]).toBeCloseTo(16.35, 1);
    expect(bbox[3]).toBeCloseTo(48.75, 1);
  });
});

describe('results export helpers', () => {
  const spec = {
    bands: ['blue', 'green', 'red', 'nir'].map((name) => ({ name })),
    tile_size: 256,
    tile_overlap: 0,
    classes: [{ value: 1, name: 'cloud' }],
  };

  it("picks red, green, blue by name, or the spec's preview bands", () => {
    expect(previewBands(spec)).toEqual({ names: ['red', 'green', 'blue'], indexes: [3, 2, 1] });
    expect(previewBands({ ...spec, preview: { bands: ['nir', 'red', 'green'] } })?.indexes).toEqual([4, 3, 2]);
    expect(previewBands({ ...spec, bands: [{ name: 'vv' }, { name: 'vh' }] })).toBeNull();
  });

  it('dates Items from the scenes, else the temporal domain, else the creation time', () => {
    const stac = (datetime: string) =>
      ({ kind: 'stac', data_source: 'x', collection: null, item_id: 'i', datetime, cloud_cover: null }) as const;
    expect(itemTime([stac('2024-06-15T10:00:00Z')], [], 'c')).toEqual({ datetime: '2024-06-15T10:00:00Z' });
    expect(itemTime([stac('2024-06-15T10:00:00Z'), stac('2024-06-01T10:00:00Z')], [], 'c')).toEqual({
      start: '2024-06-01T10:00:00Z',
      end: '2024-06-15T10:00:00Z',
    });
    expect(itemTime([{ kind: 'url', url: 'u' }], ['2024-06-01_2024-06-30'], 'c')).toEqual({
      start: '2024-06-01T00:00:00.000Z',
      end: '2024-06-30T00:00:00.000Z',
    });
    expect(itemTime([{ kind: 'url', url: 'u' }], [], '2026-01-01T00:00:00.000Z')).toEqual({
      datetime: '2026-01-01T00:00:00.000Z',
    });
  });
});

describe('model spec: preview and vectors options', () => {
  const base = {
    bands: ['blue', 'green', 'red'].map((name) => ({ name })),
    tile_size: 256,
    tile_overlap: 0,
    classes: [{ value: 1, name: 'cloud' }],
  };

  it('accepts three of the model bands and a tolerance, and names the field it refuses', () => {
    expect(
      modelInputDataSpecSchema.safeParse({
        ...base,
        preview: { bands: ['red', 'green', 'blue'], percentiles: [1, 99] },
        vectors: { simplify_tolerance: 5 },
      }).success,
    ).toBe(true);
    const unknown = modelInputDataSpecSchema.safeParse({ ...base, preview: { bands: ['red', 'green', 'nir'] } });
    expect(unknown.success).toBe(false);
    expect(unknown.error!.issues[0]).toMatchObject({
      path: ['preview', 'bands', 2],
      message: expect.stringMatching(/nir is not one of/),
    });
    const backwards = modelInputDataSpecSchema.safeParse({
      ...base,
      preview: { bands: ['red', 'green', 'blue'], percentiles: [98, 2] },
    });
    expect(backwards.error!.issues[0]!.path).toEqual(['preview', 'percentiles']);
    expect(
      modelInputDataSpecSchema.safeParse({ ...base, vectors: { simplify_tolerance: -1 } }).error!.issues[0]!.path,
    ).toEqual(['vectors', 'simplify_tolerance']);
  });
});
