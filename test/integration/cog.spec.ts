import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CogError, gdalTool, toCloudOptimizedGeoTiff } from '../../src/geo/raster/cog';
import { writeMaskCog } from '../../src/geo/raster/mask-cog';
import { readGeoTiff } from '../../src/geo/raster/decode';
import { writeMaskGeoTiff } from '../../src/geo/raster/mask-geotiff';
import type { GeoReference } from '../../src/geo/raster/georeference';
import { compareMasks, compareOverviews, runPython, validateCogs } from '../support/python';

const run = promisify(execFile);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function gdalinfo(file: string): Promise<any> {
  const { stdout } = await run(gdalTool('gdalinfo', process.env.GDAL_BIN_DIR), ['-json', file], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

/** Model outputs as Cloud-Optimized GeoTIFFs, checked with GDAL itself (gdalinfo -json) and rasterio. */
describe('toCloudOptimizedGeoTiff', () => {
  let dir: string;
  const width = 1100;
  const height = 900;
  let mask: Uint8Array;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cog-'));
    const source = await readGeoTiff(path.join(__dirname, '..', 'fixtures', 'raster-uint8-raw.tif'));
    // Class blocks of 3 values plus a nodata border: overviews must keep only these values.
    mask = new Uint8Array(width * height).map((_, i) => {
      const x = i % width;
      const y = Math.floor(i / width);
      if (x < 5 || y < 5) return 255;
      return (Math.floor(x / 37) + Math.floor(y / 23)) % 3;
    });
    await writeMaskGeoTiff(path.join(dir, 'mask.tif'), mask, width, height, source.georef, {
      nodata: 255,
      compression: 'none',
      tileSize: 512,
    });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes a tiled DEFLATE COG with nearest overviews, the same grid, nodata and pixels', async () => {
    const src = path.join(dir, 'mask.tif');
    const dst = path.join(dir, 'mask-cog.tif');
    await toCloudOptimizedGeoTiff(src, dst, { gdalBinDir: process.env.GDAL_BIN_DIR });
    const before = await gdalinfo(src);
    const info = await gdalinfo(dst);
    expect(info.metadata['IMAGE_STRUCTURE']).toMatchObject({ LAYOUT: 'COG', COMPRESSION: 'DEFLATE' });
    expect(info.driverShortName).toBe('GTiff');
    expect(info.size).toEqual([width, height]);
    const band = info.bands[0];
    expect(band.block).toEqual([256, 256]);
    expect(band.noDataValue).toBe(255);
    expect(band.type).toBe('Byte');
    expect(band.overviews.map((o: { size: number[] }) => o.size)).toEqual([
      [550, 450],
      [275, 225],
      [137, 112],
    ]);
    expect(info.coordinateSystem.wkt).toBe(before.coordinateSystem.wkt);
    expect(info.coordinateSystem.wkt).toMatch(/^(PROJCRS|GEOGCRS)/);
    expect(info.geoTransform).toEqual(before.geoTransform);

    // Full-resolution pixels unchanged, read by our reader and by rasterio.
    const back = await readGeoTiff(dst);
    expect(Buffer.from(back.bands[0]!.buffer).equals(Buffer.from(mask.buffer))).toBe(true);
    const comparison = await compareMasks(dst, src);
    expect(comparison.equal).toBe(comparison.total);
    expect(comparison.transform_equal).toBe(true);
    expect(comparison.crs_a).toBeTruthy();

    // Nearest-neighbour overviews contain only real class values (averaging would create 1s between 0 and 2).
    const overviews = JSON.parse((await runPython('test/support/overview_values.py', [dst])).trim());
    expect(overviews.map((o: { factor: number }) => o.factor)).toEqual([2, 4, 8]);
    for (const level of overviews) expect(level.values.every((v: number) => [0, 1, 2, 255].includes(v))).toBe(true);
  });

  it('fails with a clear setup error when gdal_translate is missing, and passes GDAL errors on', async () => {
    const missing = await toCloudOptimizedGeoTiff(path.join(dir, 'mask.tif'), path.join(dir, 'x.tif'), {
      gdalBinDir: path.join(dir, 'no-gdal'),
    }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(CogError);
    expect((missing as CogError).setupProblem).toBe(true);
    expect((missing as CogError).message).toMatch(
      /gdal_translate not found: install GDAL's command-line tools .* or set GDAL_BIN_DIR/,
    );

    fs.writeFileSync(path.join(dir, 'text.tif'), 'not a tiff');
    const bad = await toCloudOptimizedGeoTiff(path.join(dir, 'text.tif'), path.join(dir, 'y.tif'), {
      gdalBinDir: process.env.GDAL_BIN_DIR,
    }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CogError);
    expect((bad as CogError).setupProblem).toBe(false);
    expect((bad as CogError).message).toMatch(/gdal_translate -of COG failed for text.tif: .*not recognized/i);
  });
});

/** A class mask where every pixel matters: pseudo-random classes 0-4 per pixel, a nodata (255) border left and top (if there is room). */
function noisyClassMask(width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  const borderX = Math.min(3, width >> 4);
  const borderY = Math.min(2, height >> 4);
  let state = 0x9e3779b9;
  for (let i = 0; i < mask.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const x = i % width;
    const y = Math.floor(i / width);
    mask[i] = x < borderX || y < borderY ? 255 : (state >>> 24) % 5;
  }
  return mask;
}

/**
 * writeMaskCog against the COG GDAL makes of the same mask (writeMaskGeoTiff + gdal_translate -of COG), for
 * sizes without overviews, with several, with odd sizes (GDAL's rounding) and a 3-pixel-wide strip (where
 * GDAL samples the later overviews from full resolution).
 */
describe('writeMaskCog', () => {
  let dir: string;
  const georefs = new Map<'utm' | 'geographic', GeoReference>();
  const cases: Array<{ width: number; height: number; crs: 'utm' | 'geographic'; overviews: number[][] }> = [
    { width: 256, height: 256, crs: 'utm', overviews: [] },
    {
      width: 1100,
      height: 900,
      crs: 'utm',
      overviews: [
        [550, 450],
        [275, 225],
        [137, 112],
      ],
    },
    {
      width: 3000,
      height: 257,
      crs: 'utm',
      overviews: [
        [1500, 128],
        [750, 64],
        [375, 32],
        [187, 16],
      ],
    },
    { width: 100, height: 50, crs: 'geographic', overviews: [] },
    { width: 513, height: 513, crs: 'geographic', overviews: [[256, 256]] },
    {
      width: 3,
      height: 1207,
      crs: 'utm',
      overviews: [
        [1, 603],
        [1, 301],
        [1, 150],
      ],
    },
  ];
  const files = (c: { width: number; height: number }) => ({
    ours: path.join(dir, `direct-${c.width}x${c.height}.tif`),
    plain: path.join(dir, `plain-${c.width}x${c.height}.tif`),
    gdal: path.join(dir, `gdal-${c.width}x${c.height}.tif`),
  });
  const masks = new Map<string, Uint8Array>();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mask-cog-'));
    georefs.set('utm', (await readGeoTiff(path.join(__dirname, '..', 'fixtures', 'raster-uint8-raw.tif'))).georef);
    const geographic = path.join(dir, 'geographic.tif');
    await runPython('test/support/make_class_mask.py', [
      geographic,
      '--width',
      '8',
      '--height',
      '8',
      '--epsg',
      '4326',
      '--origin-x',
      '11.5',
      '--origin-y',
      '48.2',
      '--pixel',
      '0.0001',
    ]);
    georefs.set('geographic', (await readGeoTiff(geographic)).georef);
    for (const c of cases) {
      const mask = noisyClassMask(c.width, c.height);
      masks.set(`${c.width}x${c.height}`, mask);
      const { ours, plain, gdal } = files(c);
      await writeMaskCog(ours, mask, c.width, c.height, georefs.get(c.crs)!, { nodata: 255 });
      await writeMaskGeoTiff(plain, mask, c.width, c.height, georefs.get(c.crs)!, { nodata: 255, compression: 'none' });
      await toCloudOptimizedGeoTiff(plain, gdal, { gdalBinDir: process.env.GDAL_BIN_DIR, resampling: 'NEAREST' });
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(cases)("$width x $height ($crs): the structure gdalinfo reports equals gdal_translate's COG", async (c) => {
    const { ours, gdal } = files(c);
    const [mine, theirs] = await Promise.all([gdalinfo(ours), gdalinfo(gdal)]);
    expect(mine.metadata['IMAGE_STRUCTURE']).toEqual({ COMPRESSION: 'DEFLATE', INTERLEAVE: 'BAND', LAYOUT: 'COG' });
    expect(mine.metadata['IMAGE_STRUCTURE']).toEqual(theirs.metadata['IMAGE_STRUCTURE']);
    expect(mine.driverShortName).toBe('GTiff');
    expect(mine.size).toEqual([c.width, c.height]);
    const band = mine.bands[0];
    const overviewSizes = (b: { overviews?: Array<{ size: number[] }> }) => (b.overviews ?? []).map((o) => o.size);
    expect(overviewSizes(band)).toEqual(c.overviews);
    expect(overviewSizes(band)).toEqual(overviewSizes(theirs.bands[0]));
    for (const key of ['block', 'type', 'colorInterpretation', 'noDataValue'])
      expect([key, band[key]]).toEqual([key, theirs.bands[0][key]]);
    expect(band.block).toEqual([256, 256]);
    expect(band.noDataValue).toBe(255);
    expect(mine.coordinateSystem.wkt).toMatch(
      c.crs === 'utm' ? /^PROJCRS\["WGS 84 \/ UTM zone 33N"/ : /^GEOGCRS\["WGS 84"/,
    );
    expect(mine.coordinateSystem.wkt).toBe(theirs.coordinateSystem.wkt);
    expect(mine.geoTransform).toEqual(theirs.geoTransform);
  });

  it.each(cases)(
    "$width x $height: the same pixels as gdal_translate's COG at full resolution and in every overview",
    async (c) => {
      const { ours, gdal } = files(c);
      const mask = masks.get(`${c.width}x${c.height}`)!;
      const back = await readGeoTiff(ours);
      expect(back).toMatchObject({ width: c.width, height: c.height, nodata: 255 });
      expect(Buffer.from(back.bands[0]!.buffer).equals(Buffer.from(mask.buffer))).toBe(true);
      const full = await compareMasks(ours, gdal);
      expect(full.equal).toBe(full.total);
      expect(full.transform_equal).toBe(true);
      expect(full.crs_a).toBe(full.crs_b);

      const overviews = await compareOverviews(ours, gdal);
      expect(overviews.levels_a).toBe(c.overviews.length);
      expect(overviews.levels_b).toBe(c.overviews.length);
      for (const level of overviews.levels) {
        expect(level.shape_a).toEqual(level.shape_b);
        expect({ factor: level.factor, equal: level.equal }).toEqual({ factor: level.factor, equal: level.total });
        expect(level.values_a.every((value) => [0, 1, 2, 3, 4, 255].includes(value))).toBe(true);
      }
    },
  );

  it("passes GDAL's COG validator with no warning or error, leaders and trailers included", async () => {
    const all = cases.flatMap((c) => [files(c).ours, files(c).gdal]);
    const report = await validateCogs(all);
    for (const file of all)
      expect([path.basename(file), report[file]]).toEqual([path.basename(file), { warnings: [], errors: [] }]);
  });
});
