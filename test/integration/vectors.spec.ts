import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readGeoTiff } from '../../src/geo/raster/decode';
import { vectorizeMask } from '../../src/geo/export/vectors';
import { writeVectorFiles } from '../../src/geo/export/vector-files';
import { epsgOf } from '../../src/geo/raster/georeference';
import { runPython } from '../support/python';

interface VectorCheck {
  ogrinfo: Record<'fgb' | 'geojson', { features: number; epsg: number | null; geometry: string }>;
  rasterized_equal: number;
  rasterized_total: number;
  geojson_rasterized_equal: number;
  geojson_crs: number | null;
  components: Record<string, number>;
  features: Record<string, number>;
  pixel_counts_match: boolean;
  valid: number;
  area_m2_sum: number;
  pixel_area_m2_sum: number;
  fgb_index: { fast_spatial_filter: boolean; boxes: Array<{ ogrinfo: number; pyogrio: number; intersecting: number }> };
}

const CLASSES = [
  { value: 0, name: 'clear', background: true },
  { value: 1, name: 'water' },
  { value: 2, name: 'cloud' },
  { value: 3, name: 'shadow' },
];

/** Vectorizes a synthetic mask (blocky classes, single-pixel salt making holes and diagonal touches, nodata strip). */
async function vectorize(dir: string, epsg: number, origin: [number, number], pixel: number, simplify = 0) {
  const mask = path.join(dir, `mask-${epsg}.tif`);
  await runPython('test/support/make_class_mask.py', [
    mask,
    '--width',
    '300',
    '--height',
    '220',
    '--epsg',
    String(epsg),
    '--origin-x',
    String(origin[0]),
    '--origin-y',
    String(origin[1]),
    '--pixel',
    String(pixel),
    '--seed',
    '5',
  ]);
  const raster = await readGeoTiff(mask);
  const files = { geojsonPath: path.join(dir, `v-${epsg}.geojson`), fgbPath: path.join(dir, `v-${epsg}.fgb`) };
  const summary = await writeVectorFiles(
    vectorizeMask(raster, { classes: CLASSES, skipValues: [255], simplifyTolerance: simplify }),
    { ...files, epsg: epsgOf(raster.georef) },
  );
  const check = JSON.parse(
    (
      await runPython('test/support/check_vectors.py', [
        mask,
        files.fgbPath,
        files.geojsonPath,
        '--skip',
        '0',
        '--skip',
        '255',
      ])
    )
      .trim()
      .split('\n')
      .pop()!,
  ) as VectorCheck;
  return { summary, check };
}

describe('vector predictions (checked with GDAL and geopandas)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'vectors-'));
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['WGS 84 / UTM 33N', 32633, [600000, 5400000] as [number, number], 10],
    // Not in the old fixed list of tile CRSs: the EPSG index defines it.
    ['ETRS89 / LAEA Europe', 3035, [4500000, 2800000] as [number, number], 20],
  ])('polygonizes every component of a %s mask exactly', async (_name, epsg, origin, pixel) => {
    const { summary, check } = await vectorize(dir, epsg, origin, pixel);
    expect(check.ogrinfo.fgb).toEqual({ features: summary.features, epsg, geometry: 'Polygon' });
    expect(check.ogrinfo.geojson).toEqual({ features: summary.features, epsg: 4326, geometry: 'Polygon' });
    expect(check.geojson_crs).toBe(4326);
    // gdal_rasterize of the polygons gives back every pixel of the mask (background and nodata empty).
    expect(check.rasterized_equal).toBe(check.rasterized_total);
    expect(check.geojson_rasterized_equal).toBe(check.rasterized_total);
    // One feature per 4-connected component, each with its component's pixel count; background left out.
    expect(check.features).toEqual(check.components);
    expect(Object.keys(check.features)).not.toContain('0');
    expect(check.pixel_counts_match).toBe(true);
    expect(check.area_m2_sum).toBeCloseTo(check.pixel_area_m2_sum, 0);
    expect(check.valid).toBeGreaterThan(summary.features * 0.9);
    // The FlatGeobuf's packed Hilbert R-tree: GDAL reports a fast spatial filter, and bbox reads through the
    // index (ogrinfo -spat, pyogrio bbox=) give exactly the features whose polygons meet the bbox.
    expect(check.fgb_index.fast_spatial_filter).toBe(true);
    for (const box of check.fgb_index.boxes) {
      expect(box.ogrinfo).toBe(box.intersecting);
      expect(box.pyogrio).toBe(box.intersecting);
    }
    expect(check.fgb_index.boxes[2]!.intersecting).toBe(summary.features);
    expect(check.fgb_index.boxes[0]!.intersecting).toBeGreaterThan(0);
    expect(check.fgb_index.boxes[0]!.intersecting).toBeLessThan(summary.features);
  });

  it('measures areas on the sphere for a geographic mask and simplifies on request', async () => {
    const exact = await vectorize(dir, 4326, [16.3, 48.25], 0.0001);
    expect(exact.check.rasterized_equal).toBe(exact.check.rasterized_total);
    // 0.0001 degree pixels at 48.2 N are about 11.1 m x 7.4 m.
    const perPixel =
      exact.check.area_m2_sum / Object.values(exact.summary.features_by_class).reduce((a, b) => a + b, 0);
    expect(perPixel).toBeGreaterThan(0);
    const simplified = await vectorize(dir, 32633, [600000, 5400000], 10, 15);
    expect(simplified.summary.features).toBeGreaterThan(0);
    expect(simplified.check.rasterized_equal / simplified.check.rasterized_total).toBeGreaterThan(0.8);
  });
});
