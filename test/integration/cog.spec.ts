import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CogError, gdalTool, toCloudOptimizedGeoTiff } from '../../activities/lib/cog';
import { readGeoTiff, writeMaskGeoTiff } from '../../activities/lib/raster';
import { compareMasks, runPython } from '../support/python';

const run = promisify(execFile);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function gdalinfo(file: string): Promise<any> {
  const { stdout } = await run(gdalTool('gdalinfo', process.env.GDAL_BIN_DIR), ['-json', file], { maxBuffer: 16 * 1024 * 1024 });
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
    await writeMaskGeoTiff(path.join(dir, 'mask.tif'), mask, width, height, source.georef, { nodata: 255, compression: 'none', tileSize: 512 });
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
    const missing = await toCloudOptimizedGeoTiff(path.join(dir, 'mask.tif'), path.join(dir, 'x.tif'), { gdalBinDir: path.join(dir, 'no-gdal') }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(CogError);
    expect((missing as CogError).setupProblem).toBe(true);
    expect((missing as CogError).message).toMatch(/gdal_translate not found: install GDAL's command-line tools .* or set GDAL_BIN_DIR/);

    fs.writeFileSync(path.join(dir, 'text.tif'), 'not a tiff');
    const bad = await toCloudOptimizedGeoTiff(path.join(dir, 'text.tif'), path.join(dir, 'y.tif'), { gdalBinDir: process.env.GDAL_BIN_DIR }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CogError);
    expect((bad as CogError).setupProblem).toBe(false);
    expect((bad as CogError).message).toMatch(/gdal_translate -of COG failed for text.tif: .*not recognized/i);
  });
});
