import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromFile } from 'geotiff';
import { toCloudOptimizedGeoTiff } from '../../src/geo/raster/cog';
import { writeMaskCog } from '../../src/geo/raster/mask-cog';
import { readGeoTiff } from '../../src/geo/raster/decode';
import { classColourMap, TileRenderer, type TileRaster } from '../../src/geo/tiles/cog-tiles';
import { runPython } from '../support/python';
import { colourTable, sampleTiles, TEST_CLASSES, tileRange } from '../support/tiles';

/**
 * The tile renderer on a generated class-mask COG in EPSG:32633 (UTM 33N), checked pixel by pixel against
 * GDAL/PROJ (test/support/check_tiles.py) at several zoom levels: full resolution, overviews, and zoomed in
 * past full resolution.
 */
describe('TileRenderer on a class-mask COG', () => {
  let dir: string;
  let cog: string;
  const renderer = new TileRenderer({ blockCacheBytes: 32 * 1024 * 1024 });
  let raster: TileRaster;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiles-'));
    await runPython('test/support/make_class_mask.py', [
      path.join(dir, 'mask.tif'),
      '--width',
      '1500',
      '--height',
      '1100',
      '--seed',
      '3',
    ]);
    cog = path.join(dir, 'mask-cog.tif');
    await toCloudOptimizedGeoTiff(path.join(dir, 'mask.tif'), cog, { gdalBinDir: process.env.GDAL_BIN_DIR });
    raster = await renderer.raster('mask', () => fromFile(cog));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('describes the tile set: WGS 84 bounds, zoom range from the pixel size and overviews', () => {
    expect(raster.levels.map((level) => [level.width, level.height])).toEqual([
      [1500, 1100],
      [750, 550],
      [375, 275],
      [187, 137],
    ]);
    const [west, south, east, north] = raster.info.bounds;
    // 600000..615000 E, 5389000..5400000 N in UTM 33N: about 16.3-16.5 E, 48.6-48.7 N.
    expect(west).toBeCloseTo(16.35, 1);
    expect(east).toBeGreaterThan(west + 0.19);
    expect(south).toBeCloseTo(48.64, 1);
    expect(north).toBeGreaterThan(south + 0.09);
    // 10 m pixels at 48.7 N are ~15 m in Web Mercator: zoom 14 tiles have 9.5 m pixels, zoom 13 19 m.
    expect(raster.info.maxzoom).toBe(14);
    expect(raster.info.minzoom).toBe(10); // coarsest overview: 8x, ~121 m in Web Mercator
    expect(raster.info.epsg).toBe(32633);
  });

  it('renders tiles that match GDAL/PROJ nearest-neighbour look-ups pixel by pixel at five zoom levels', async () => {
    const colours = classColourMap(TEST_CLASSES, 255);
    const tiles: Array<{ z: number; x: number; y: number; png: string; level: number }> = [];
    for (const z of [10, 11, 12, 14, 16]) {
      for (const [x, y] of sampleTiles(tileRange(raster.info.bounds, z))) {
        const { png, level } = await renderer.renderPng(raster, z, x, y, colours);
        const file = path.join(dir, `${z}-${x}-${y}.png`);
        fs.writeFileSync(file, png);
        tiles.push({ z, x, y, png: file, level });
      }
    }
    // The zoom levels exercise every image of the COG.
    expect(new Set(tiles.map((t) => t.level).filter((level) => level >= 0))).toEqual(new Set([0, 1, 2, 3]));
    fs.writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify({ raster: cog, colours: colourTable(TEST_CLASSES), tiles }),
    );
    const lines = (await runPython('test/support/check_tiles.py', [path.join(dir, 'manifest.json')]))
      .trim()
      .split('\n');
    const summary = JSON.parse(lines.pop()!);
    if (summary.level_mismatches) console.log(lines.join('\n'));
    expect(summary.tiles).toBe(tiles.length);
    expect(summary.level_mismatches).toBe(0);
    expect(summary.opaque).toBeGreaterThan(100_000);
    // Exact nearest neighbour, except where a pixel centre lies within ~1e-3 pixel of a pixel edge, where
    // proj4js and PROJ may round to different sides.
    expect(summary.mismatches).toBeLessThanOrEqual(Math.ceil(summary.pixels * 1e-4));
    expect(summary.max_mismatch_edge_distance).toBeLessThan(2e-3);
    console.log(
      `tiles: ${summary.tiles} tiles, ${summary.pixels} pixels, ${summary.opaque} opaque, ${summary.mismatches} mismatches (at most ${summary.max_mismatch_edge_distance} px from a pixel edge)`,
    );
  });

  it("renders the same tiles from the COG writeMaskCog writes as from gdal_translate's", async () => {
    const source = await readGeoTiff(path.join(dir, 'mask.tif'));
    const direct = path.join(dir, 'mask-direct-cog.tif');
    await writeMaskCog(direct, source.bands[0] as Uint8Array, source.width, source.height, source.georef, {
      nodata: 255,
    });
    const directRaster = await renderer.raster('mask-direct', () => fromFile(direct));
    expect(directRaster.levels.map((level) => [level.width, level.height])).toEqual(
      raster.levels.map((level) => [level.width, level.height]),
    );
    expect(directRaster.info).toEqual(raster.info);
    const colours = classColourMap(TEST_CLASSES, 255);
    const levels = new Set<number>();
    for (const z of [10, 11, 12, 14, 16]) {
      for (const [x, y] of sampleTiles(tileRange(raster.info.bounds, z))) {
        const expected = await renderer.renderPng(raster, z, x, y, colours);
        const actual = await renderer.renderPng(directRaster, z, x, y, colours);
        expect([z, x, y, actual.level]).toEqual([z, x, y, expected.level]);
        expect(actual.png.equals(expected.png)).toBe(true);
        levels.add(actual.level);
      }
    }
    // Every image of the COG (-1: a tile off the raster, transparent in both).
    expect([...levels].filter((level) => level >= 0).sort()).toEqual([0, 1, 2, 3]);
  });

  it('returns a transparent tile away from the raster without reading it', async () => {
    const { png, level } = await renderer.renderPng(raster, 14, 0, 0, classColourMap(TEST_CLASSES, 255));
    expect(level).toBe(-1);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  });

  it('renders a mask in a CRS outside the old fixed list (EPSG:3035, LAEA Europe) as GDAL/PROJ does', async () => {
    await runPython('test/support/make_class_mask.py', [
      path.join(dir, 'laea.tif'),
      '--width',
      '400',
      '--height',
      '300',
      '--epsg',
      '3035',
      '--origin-x',
      '4790000',
      '--origin-y',
      '2820000',
      '--pixel',
      '20',
      '--seed',
      '4',
    ]);
    const source = await readGeoTiff(path.join(dir, 'laea.tif'));
    const file = path.join(dir, 'laea-cog.tif');
    await writeMaskCog(file, source.bands[0] as Uint8Array, source.width, source.height, source.georef, {
      nodata: 255,
    });
    const laea = await renderer.raster('laea', () => fromFile(file));
    expect(laea.info.epsg).toBe(3035);
    const colours = classColourMap(TEST_CLASSES, 255);
    const tiles: Array<{ z: number; x: number; y: number; png: string; level: number }> = [];
    for (const z of [11, 13]) {
      for (const [x, y] of sampleTiles(tileRange(laea.info.bounds, z))) {
        const { png, level } = await renderer.renderPng(laea, z, x, y, colours);
        const out = path.join(dir, `laea-${z}-${x}-${y}.png`);
        fs.writeFileSync(out, png);
        tiles.push({ z, x, y, png: out, level });
      }
    }
    fs.writeFileSync(
      path.join(dir, 'laea-manifest.json'),
      JSON.stringify({ raster: file, colours: colourTable(TEST_CLASSES), tiles }),
    );
    const summary = JSON.parse(
      (await runPython('test/support/check_tiles.py', [path.join(dir, 'laea-manifest.json')]))
        .trim()
        .split('\n')
        .pop()!,
    );
    expect(summary.tiles).toBe(tiles.length);
    expect(summary.opaque).toBeGreaterThan(10_000);
    expect(summary.mismatches).toBeLessThanOrEqual(Math.ceil(summary.pixels * 1e-4));
  });
});
