// geotiff.js requires the ESM-only `quick-lru` (used for remote reads, never here), which Jest's CommonJS
// runtime cannot load; Node itself can. Stand in a Map for it.
jest.mock('quick-lru', () => ({ __esModule: true, default: class extends Map {} }));

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import { affineOf, epsgOf, GeoReference } from '../../src/geo/raster/georeference';
import { inspectGeoTiff } from '../../src/geo/raster/inspect';
import { InvalidGeoTiffError } from '../../src/geo/raster/invalid-geotiff';
import { readGeoTiff } from '../../src/geo/raster/decode';
import { writeMaskGeoTiff } from '../../src/geo/raster/mask-geotiff';
import { overviewLevels, overviewSizes, writeMaskCog } from '../../src/geo/raster/mask-cog';

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
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) if (band[y * W + x] !== expected(b, y, x, dtype)) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(epsgOf(raster.georef)).toBe(32633);
    expect(affineOf(raster.georef)).toEqual([20, 0, 600000, 0, -20, 5370000]);
  });

  it('agrees with geotiff.js readRasters on a deflate + predictor file', async () => {
    const file = fixture('raster-deflate-pred2-tiled.tif');
    const ours = await readGeoTiff(file);
    const data = fs.readFileSync(file);
    const image = await (
      await fromArrayBuffer(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer)
    ).getImage();
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
    expect(summary).toEqual({
      width: W,
      height: H,
      bands: 1,
      dtype: 'uint8',
      epsg: 32633,
      bounds: [600000, 5370000 - 70 * 20, 600000 + 100 * 20, 5370000],
    });
    const back = await readGeoTiff(file);
    expect(back.georef.geoAsciiParams).toBe(input.georef.geoAsciiParams);
    expect(back.georef.geoKeys).toEqual(input.georef.geoKeys);
  });

  it('rejects a mask of the wrong length', async () => {
    await expect(writeMaskGeoTiff(path.join(tmp, 'bad.tif'), new Uint8Array(10), 4, 4, utm33Georef)).rejects.toThrow(
      /expected 4 x 4/,
    );
  });
});

/** The IFDs of a little-endian classic TIFF: where each starts and ends (its out-of-line values included), and its tags. */
function readIfds(bytes: Buffer): Array<{ offset: number; end: number; tags: Map<number, number[] | string> }> {
  const typeSize: Record<number, number> = { 2: 1, 3: 2, 4: 4, 12: 8 };
  const ifds = [];
  for (let offset = bytes.readUInt32LE(4); offset !== 0;) {
    const count = bytes.readUInt16LE(offset);
    let end = offset + 2 + count * 12 + 4;
    const tags = new Map<number, number[] | string>();
    for (let i = 0; i < count; i++) {
      const entry = offset + 2 + i * 12;
      const [code, type, n] = [bytes.readUInt16LE(entry), bytes.readUInt16LE(entry + 2), bytes.readUInt32LE(entry + 4)];
      const size = typeSize[type]! * n;
      const at = size <= 4 ? entry + 8 : bytes.readUInt32LE(entry + 8);
      if (size > 4) end = Math.max(end, at + size);
      const read = (k: number) =>
        type === 3
          ? bytes.readUInt16LE(at + 2 * k)
          : type === 4
            ? bytes.readUInt32LE(at + 4 * k)
            : bytes.readDoubleLE(at + 8 * k);
      tags.set(
        code,
        type === 2 ? bytes.toString('latin1', at, at + n - 1) : Array.from({ length: n }, (_, k) => read(k)),
      );
    }
    ifds.push({ offset, end, tags });
    offset = bytes.readUInt32LE(offset + 2 + count * 12);
  }
  return ifds;
}

describe('writeMaskCog', () => {
  const classMask = (width: number, height: number) =>
    new Uint8Array(width * height).map((_, i) => ((i % width) * 7 + Math.floor(i / width) * 3 + (i % 13)) % 5);

  it("picks the overview sizes GDAL's COG driver picks (measured with gdal_translate -of COG)", () => {
    expect(overviewSizes(256, 256, 256)).toEqual([]);
    expect(overviewSizes(100, 50, 256)).toEqual([]);
    expect(overviewSizes(257, 257, 256)).toEqual([[128, 128]]);
    expect(overviewSizes(513, 513, 256)).toEqual([[256, 256]]);
    expect(overviewSizes(1100, 900, 256)).toEqual([
      [550, 450],
      [275, 225],
      [137, 112],
    ]);
    expect(overviewSizes(1025, 1023, 256)).toEqual([
      [512, 511],
      [256, 255],
    ]);
    expect(overviewSizes(3000, 257, 256)).toEqual([
      [1500, 128],
      [750, 64],
      [375, 32],
      [187, 16],
    ]);
    expect(overviewSizes(5000, 3, 256)).toEqual([
      [2500, 1],
      [1250, 1],
      [625, 1],
      [312, 1],
      [156, 1],
    ]);
    expect(overviewSizes(1000, 1000, 512)).toEqual([[500, 500]]);
  });

  it('samples overview pixels where GDAL does (source rows measured with gdal_translate)', () => {
    // Pixel value = source row: level k comes from level k-1, row i from round-half-up(i * ratio).
    const rows = (width: number, height: number) =>
      new Uint8Array(width * height).map((_, i) => Math.floor(i / width) % 256);
    const wide = overviewLevels({ pixels: rows(3000, 257), width: 3000, height: 257 }, 256);
    const column = (level: { pixels: Uint8Array; width: number; height: number }) =>
      Array.from({ length: level.height }, (_, y) => level.pixels[y * level.width]);
    expect(column(wide[3]!)).toEqual([0, 16, 32, 48, 64, 80, 96, 112, 129, 145, 161, 177, 193, 209, 225, 241]);
    // One pixel wide: GDAL samples the later levels from full resolution, not from the level before.
    const narrow = overviewLevels({ pixels: rows(2, 1207), width: 2, height: 1207 }, 256);
    expect(column(narrow[1]!)[51]).toBe(205 % 256); // from level 0 it would be row 204
    expect(column(narrow[2]!).slice(11, 14)).toEqual([89, 97, 105]); // from level 1: 88, 96, 104
  });

  it('writes a COG that reads back unchanged, with reduced-resolution overview images', async () => {
    const [width, height] = [700, 300];
    const mask = classMask(width, height);
    const file = path.join(tmp, 'cog-roundtrip.tif');
    await writeMaskCog(file, mask, width, height, utm33Georef, { nodata: 255 });
    const back = await readGeoTiff(file);
    expect(back).toMatchObject({ width, height, bandCount: 1, dataType: 'uint8', nodata: 255 });
    expect(Buffer.from(back.bands[0]!.buffer).equals(Buffer.from(mask.buffer))).toBe(true);
    expect(affineOf(back.georef)).toEqual([20, 0, 600000, 0, -20, 5370000]);

    const tiff = await fromArrayBuffer(new Uint8Array(fs.readFileSync(file)).buffer);
    const expected = overviewLevels({ pixels: mask, width, height }, 256);
    expect(expected.map((level) => [level.width, level.height])).toEqual([
      [350, 150],
      [175, 75],
    ]);
    expect(await tiff.getImageCount()).toBe(1 + expected.length);
    for (const [index, level] of expected.entries()) {
      const overview = await tiff.getImage(index + 1);
      expect([overview.getWidth(), overview.getHeight()]).toEqual([level.width, level.height]);
      expect(overview.getFileDirectory()).toMatchObject({
        NewSubfileType: 1,
        Compression: 8,
        TileWidth: 256,
        GDAL_NODATA: '255\0',
      });
      const [pixels] = (await overview.readRasters()) as unknown as Uint8Array[];
      expect(Buffer.from(pixels!).equals(Buffer.from(level.pixels))).toBe(true);
    }
  });

  it('lays the file out like GDAL: structural metadata, all IFDs, then framed tiles from the smallest overview up', async () => {
    const [width, height] = [1100, 900];
    const file = path.join(tmp, 'cog-layout.tif');
    await writeMaskCog(file, classMask(width, height), width, height, utm33Georef, { nodata: 255 });
    const bytes = fs.readFileSync(file);
    const ghost = bytes.toString('latin1', 8, 191);
    expect(ghost).toBe(
      'GDAL_STRUCTURAL_METADATA_SIZE=000140 bytes\nLAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\n' +
        'BLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n ',
    );
    const ifds = readIfds(bytes);
    expect(ifds[0]!.offset).toBe(192);
    expect(ifds.map((ifd) => [ifd.tags.get(256), ifd.tags.get(257)])).toEqual([
      [[1100], [900]],
      [[550], [450]],
      [[275], [225]],
      [[137], [112]],
    ]);
    expect(ifds.map((ifd) => ifd.tags.get(254))).toEqual([undefined, [1], [1], [1]]);
    expect(ifds.map((ifd) => ifd.tags.has(34735))).toEqual([true, false, false, false]);
    expect(ifds.every((ifd) => ifd.tags.get(42113) === '255')).toBe(true);

    const allIfdsEnd = Math.max(...ifds.map((ifd) => ifd.end));
    let previousEnd = allIfdsEnd;
    for (const ifd of [...ifds].reverse()) {
      const offsets = ifd.tags.get(324) as number[];
      const counts = ifd.tags.get(325) as number[];
      offsets.forEach((offset, i) => {
        // Leader, data, trailer, leader, ...: each tile right after the previous one, row-major.
        expect(offset - 4).toBe(previousEnd);
        expect(bytes.readUInt32LE(offset - 4)).toBe(counts[i]);
        expect(
          bytes
            .subarray(offset + counts[i]!, offset + counts[i]! + 4)
            .equals(bytes.subarray(offset + counts[i]! - 4, offset + counts[i]!)),
        ).toBe(true);
        previousEnd = offset + counts[i]! + 4;
      });
    }
    expect(previousEnd).toBe(bytes.length);
  });

  it('rejects bad arguments before writing', async () => {
    const file = path.join(tmp, 'cog-bad.tif');
    await expect(writeMaskCog(file, new Uint8Array(10), 4, 4, utm33Georef, { nodata: 255 })).rejects.toThrow(
      /expected 4 x 4/,
    );
    await expect(writeMaskCog(file, new Uint8Array(16), 4, 4, utm33Georef, { nodata: 256 })).rejects.toThrow(
      /nodata must be an integer 0-255/,
    );
    await expect(
      writeMaskCog(file, new Uint8Array(16), 4, 4, utm33Georef, { nodata: 0, blockSize: 100 }),
    ).rejects.toThrow(/multiple of 16/);
    await expect(
      writeMaskCog(file, new Uint8Array(16), 4, 4, utm33Georef, { nodata: 0, deflateLevel: 0 }),
    ).rejects.toThrow(/deflateLevel must be 1-9/);
    expect(fs.existsSync(file)).toBe(false);
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
    await expectInvalid(
      fixture('raster-deflate-pred2-tiled.tif'),
      /too large: 100 x 70 = 7000 pixels, the limit is 5000/,
      { maxPixels: 5000 },
    );
  });
});
