// geotiff.js requires the ESM-only `quick-lru` (used for remote reads, never here), which Jest's CommonJS
// runtime cannot load; Node itself can. Stand in a Map for it.
jest.mock('quick-lru', () => ({ __esModule: true, default: class extends Map {} }));

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import {
  affineOf,
  epsgOf,
  GeoReference,
  inspectGeoTiff,
  InvalidGeoTiffError,
  readGeoTiff,
  writeMaskGeoTiff,
} from '../../activities/lib/raster';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const fixture = (name: string) => path.join(FIXTURES, name);
const W = 100;
const H = 70;

/** Mirrors test/fixtures/make_raster_fixtures.py. */
function expected(band: number, y: number, x: number, dtype: string): number {
  const raw = x * 7 + y * 13 + band * 1000;
  if (dtype === 'uint8') return raw % 251;
  if (dtype === 'float32') return (raw % 65536) + 0.5;
  return raw % 65536;
}

/** EPSG:32633, 20 m pixels, origin (600000, 5370000), like GDAL writes it. */
const utm33Georef: GeoReference = {
  modelPixelScale: [20, 20, 0],
  modelTiepoint: [0, 0, 0, 600000, 5370000, 0],
  geoKeyDirectory: [1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633, 3076, 0, 1, 9001],
  geoKeys: {},
};

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raster-spec-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('readGeoTiff', () => {
  it.each([
    ['raster-deflate-pred2-tiled.tif', 'uint16', 3],
    ['raster-deflate-band-tiled.tif', 'uint16', 3],
    ['raster-lzw-striped.tif', 'uint16', 3],
    ['raster-float32-pred3.tif', 'float32', 3],
    ['raster-uint8-raw.tif', 'uint8', 1],
  ])('reads %s band by band with the right values', async (name, dtype, bands) => {
    const raster = await readGeoTiff(fixture(name));
    expect(raster).toMatchObject({ width: W, height: H, bandCount: bands, dataType: dtype });
    expect(raster.bands).toHaveLength(bands);
    let mismatches = 0;
    for (let b = 0; b < bands; b++) {
      const band = raster.bands[b]!;
      expect(band).toHaveLength(W * H);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (band[y * W + x] !== expected(b, y, x, dtype)) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(epsgOf(raster.georef)).toBe(32633);
    expect(affineOf(raster.georef)).toEqual([20, 0, 600000, 0, -20, 5370000]);
  });

  it('agrees with geotiff.js readRasters on a deflate + predictor file', async () => {
    const file = fixture('raster-deflate-pred2-tiled.tif');
    const ours = await readGeoTiff(file);
    const data = fs.readFileSync(file);
    const image = await (await fromArrayBuffer(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer)).getImage();
    const theirs = (await image.readRasters()) as unknown as ArrayLike<number>[];
    for (let b = 0; b < 3; b++) expect(Array.from(ours.bands[b]!)).toEqual(Array.from(theirs[b]!));
  });

  it('parses GDAL_NODATA', async () => {
    expect((await readGeoTiff(fixture('raster-deflate-pred2-tiled.tif'))).nodata).toBe(0);
    expect((await readGeoTiff(fixture('raster-float32-pred3.tif'))).nodata).toBe(-9999);
    expect((await readGeoTiff(fixture('raster-uint8-raw.tif'))).nodata).toBeNull();
  });

  it('keeps all geokeys', async () => {
    const { georef } = await readGeoTiff(fixture('raster-deflate-pred2-tiled.tif'));
    expect(georef.geoKeys).toMatchObject({ ProjectedCSTypeGeoKey: 32633, GTModelTypeGeoKey: 1 });
    expect(georef.geoKeyDirectory?.length).toBeGreaterThan(4);
    expect(georef.modelPixelScale).toEqual([20, 20, 0]);
  });
});

describe('writeMaskGeoTiff', () => {
  it.each([
    ['deflate', 300, 170],
    ['none', 256, 256],
    ['deflate', 7, 5],
  ] as const)('round-trips a %s mask of %ix%i with its georeferencing', async (compression, width, height) => {
    const mask = new Uint8Array(width * height);
    for (let i = 0; i < mask.length; i++) mask[i] = (i * 31 + (i >> 5)) % 256;
    const file = path.join(tmp, `mask-${compression}-${width}.tif`);
    await writeMaskGeoTiff(file, mask, width, height, utm33Georef, { nodata: 255, compression });
    const back = await readGeoTiff(file);
    expect(back).toMatchObject({ width, height, bandCount: 1, dataType: 'uint8', nodata: 255 });
    expect(Buffer.from(back.bands[0]!.buffer).equals(Buffer.from(mask.buffer))).toBe(true);
    expect(epsgOf(back.georef)).toBe(32633);
    expect(affineOf(back.georef)).toEqual([20, 0, 600000, 0, -20, 5370000]);
    expect(back.georef.geoKeyDirectory).toEqual(utm33Georef.geoKeyDirectory);
  });

  it('copies the georeferencing read from a GDAL file', async () => {
    const input = await readGeoTiff(fixture('raster-deflate-pred2-tiled.tif'));
    const file = path.join(tmp, 'mask-from-input.tif');
    await writeMaskGeoTiff(file, new Uint8Array(W * H).fill(1), W, H, input.georef, { nodata: 255 });
    const summary = await inspectGeoTiff(file);
    expect(summary).toEqual({ width: W, height: H, bands: 1, dtype: 'uint8', epsg: 32633, bounds: [600000, 5370000 - 70 * 20, 600000 + 100 * 20, 5370000] });
    const back = await readGeoTiff(file);
    expect(back.georef.geoAsciiParams).toBe(input.georef.geoAsciiParams);
    expect(back.georef.geoKeys).toEqual(input.georef.geoKeys);
  });

  it('rejects a mask of the wrong length', async () => {
    await expect(writeMaskGeoTiff(path.join(tmp, 'bad.tif'), new Uint8Array(10), 4, 4, utm33Georef)).rejects.toThrow(/expected 4 x 4/);
  });
});

describe('inspectGeoTiff', () => {
  it('summarises a valid file', async () => {
    await expect(inspectGeoTiff(fixture('raster-deflate-pred2-tiled.tif'))).resolves.toEqual({
      width: W,
      height: H,
      bands: 3,
      dtype: 'uint16',
      epsg: 32633,
      bounds: [600000, 5368600, 602000, 5370000],
    });
  });

  async function expectInvalid(file: string, reason: RegExp, options?: { maxPixels?: number }) {
    const error = await inspectGeoTiff(file, options).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidGeoTiffError);
    expect((error as Error).message).toMatch(reason);
  }

  it('rejects an empty file', async () => {
    const file = path.join(tmp, 'empty.tif');
    fs.writeFileSync(file, '');
    await expectInvalid(file, /empty/);
  });

  it('rejects a file that is not a TIFF', async () => {
    const file = path.join(tmp, 'page.tif');
    fs.writeFileSync(file, '<html><body>Not found</body></html>');
    await expectInvalid(file, /not a TIFF file \(starts with "<htm"\)/);
    await expect(readGeoTiff(file)).rejects.toBeInstanceOf(InvalidGeoTiffError);
  });

  it('rejects a truncated file', async () => {
    const whole = fs.readFileSync(fixture('raster-deflate-band-tiled.tif'));
    const file = path.join(tmp, 'truncated.tif');
    fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 2)));
    await expectInvalid(file, /truncated/);
    const tiny = path.join(tmp, 'header-only.tif');
    fs.writeFileSync(tiny, whole.subarray(0, 12));
    await expectInvalid(tiny, /truncated|corrupt|cannot parse/);
  });

  it('rejects a zero-size image', async () => {
    const file = path.join(tmp, 'zero.tif');
    await writeMaskGeoTiff(file, new Uint8Array(16), 4, 4, utm33Georef, { compression: 'none' });
    const bytes = fs.readFileSync(file);
    // Our writer puts ImageWidth (tag 256, LONG) first in the IFD at offset 8: its value sits at byte 18.
    expect(bytes.readUInt16LE(10)).toBe(256);
    bytes.writeUInt32LE(0, 18);
    fs.writeFileSync(file, bytes);
    await expectInvalid(file, /zero size/);
  });

  it('rejects an unsupported sample format', async () => {
    await expectInvalid(fixture('raster-complex.tif'), /unsupported sample format: 64-bit complex floating point/);
  });

  it('rejects an image above the pixel limit', async () => {
    await expectInvalid(fixture('raster-deflate-pred2-tiled.tif'), /too large: 100 x 70 = 7000 pixels, the limit is 5000/, { maxPixels: 5000 });
  });
});
