// geotiff.js requires the ESM-only `quick-lru` (remote reads only), which Jest's CommonJS runtime cannot load.
jest.mock('quick-lru', () => ({ __esModule: true, default: class extends Map {} }));

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readGeoTiff } from '../../src/geo/raster/decode';
import { InvalidGeoTiffError } from '../../src/geo/raster/invalid-geotiff';
import type { Raster } from '../../src/geo/raster/raster';
import {
  coalesceBlocks,
  fileByteSource,
  MAX_RANGE_BYTES,
  openWindowedGeoTiff,
  storedByteSource,
  type ByteSource,
  type PixelWindow,
} from '../../src/geo/raster/windowed-geotiff';
import { MinioObjectStore } from '../../src/platform/storage/minio-object-store';
import { ObjectNotFoundError } from '../../src/platform/storage/object-store';
import { runPython } from '../support/python';

/**
 * openWindowedGeoTiff against decodeGeoTiff of the whole file, cropped: bit for bit, on fixed and random windows,
 * for every layout test/support/make_windowed_fixtures.py writes (tiled/stripped, pixel/band interleaved, uint8,
 * uint16, int16, float32, deflate with predictor 1/2/3, LZW, none, nodata, big-endian), read from a file and
 * from a real MinIO bucket (MINIO_* set by scripts/with-services.sh).
 */
interface Fixture {
  name: string;
  path: string;
  dtype: string;
  bands: number;
  tiled: boolean;
  nodata: number | null;
  nan_nodata: boolean;
}

let tmp: string;
let fixtures: Fixture[];
let W: number;
let H: number;
const whole = new Map<string, Raster>();
let store: MinioObjectStore;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'windowed-geotiff-'));
  const made = JSON.parse((await runPython('test/support/make_windowed_fixtures.py', [tmp])).trim()) as {
    width: number;
    height: number;
    files: Fixture[];
  };
  ({ width: W, height: H, files: fixtures } = made);
  for (const f of fixtures) whole.set(f.name, await readGeoTiff(f.path));

  const { MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY } = process.env;
  if (!MINIO_ENDPOINT || !MINIO_ACCESS_KEY || !MINIO_SECRET_KEY)
    throw new Error('MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY must be set (scripts/with-services.sh)');
  store = new MinioObjectStore({
    endpoint: MINIO_ENDPOINT,
    accessKey: MINIO_ACCESS_KEY,
    secretKey: MINIO_SECRET_KEY,
    bucket: `windowed-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
  });
  await store.ensureReady();
  for (const f of fixtures) await store.putFile(`scenes/${f.name}.tif`, f.path);
}, 120_000);

afterAll(async () => {
  if (store) {
    await store.deletePrefix('');
    await store.client.removeBucket(store.bucket);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The window of a whole-image raster, as bytes per band (bit-for-bit comparison, NaN included). */
function crop(raster: Raster, window: PixelWindow): Buffer[] {
  const x0 = Math.max(0, window.x);
  const y0 = Math.max(0, window.y);
  const x1 = Math.min(raster.width, window.x + window.w);
  const y1 = Math.min(raster.height, window.y + window.h);
  return raster.bands.map((band) => {
    const Ctor = band.constructor as { new (n: number): typeof band };
    const out = new Ctor((x1 - x0) * (y1 - y0));
    for (let y = y0; y < y1; y++)
      out.set(band.subarray(y * raster.width + x0, y * raster.width + x1), (y - y0) * (x1 - x0));
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  });
}

const bytesOf = (raster: Raster): Buffer[] =>
  raster.bands.map((band) => Buffer.from(band.buffer, band.byteOffset, band.byteLength));

/** A small seeded PRNG (mulberry32): the same random windows every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function windowsFor(blockWidth: number, blockHeight: number): PixelWindow[] {
  const fixed: PixelWindow[] = [
    { x: 0, y: 0, w: W, h: H }, // whole image
    { x: -10, y: -10, w: W + 50, h: H + 50 }, // larger than the image: clipped
    { x: 0, y: 0, w: 1, h: 1 },
    { x: W - 1, y: H - 1, w: 1, h: 1 }, // last pixel, in a partial edge block
    { x: W - 1, y: 0, w: 5, h: H }, // last column, clipped
    { x: 0, y: H - 1, w: W, h: 1 }, // last row
    { x: blockWidth - 1, y: blockHeight - 1, w: 2, h: 2 }, // four blocks meet
    { x: blockWidth < W ? blockWidth : 0, y: blockHeight, w: blockWidth, h: blockHeight }, // exactly one block
    { x: 0, y: 17, w: W, h: 40 }, // a full-width strip crossing block rows
    { x: 3, y: 0, w: W - 7, h: 1 }, // one row starting mid-block (predictor runs from the block start)
  ];
  const random = prng(blockWidth * 7919 + blockHeight);
  for (let i = 0; i < 14; i++) {
    const x = Math.floor(random() * W);
    const y = Math.floor(random() * H);
    fixed.push({ x, y, w: 1 + Math.floor(random() * (W - x)), h: 1 + Math.floor(random() * (H - y)) });
  }
  return fixed;
}

async function expectWindowsMatch(source: ByteSource, fixture: Fixture): Promise<void> {
  const reference = whole.get(fixture.name)!;
  const tiff = await openWindowedGeoTiff(source, fixture.name);
  try {
    expect(tiff).toMatchObject({
      width: W,
      height: H,
      bandCount: fixture.bands,
      dataType: fixture.dtype,
      tiled: fixture.tiled,
      rowBytes: W * fixture.bands * reference.bands[0]!.BYTES_PER_ELEMENT,
    });
    expect(tiff.georef).toEqual(reference.georef);
    if (fixture.nan_nodata) expect(tiff.nodata).toBeNaN();
    else expect(tiff.nodata).toBe(reference.nodata);
    if (!fixture.tiled) expect(tiff.blockWidth).toBe(W);
    for (const window of windowsFor(tiff.blockWidth, tiff.blockHeight)) {
      const raster = await tiff.readWindow(window);
      const expected = crop(reference, window);
      const label = `${fixture.name} ${JSON.stringify(window)}`;
      expect({ label, w: raster.width, h: raster.height }).toEqual({
        label,
        w: Math.min(W, window.x + window.w) - Math.max(0, window.x),
        h: Math.min(H, window.y + window.h) - Math.max(0, window.y),
      });
      expect(raster.georef).toBe(tiff.georef);
      expect(raster.dataType).toBe(reference.dataType);
      const got = bytesOf(raster);
      expect({ label, equal: got.map((b, i) => b.equals(expected[i]!)) }).toEqual({
        label,
        equal: expected.map(() => true),
      });
    }
  } finally {
    await tiff.close();
  }
}

describe('openWindowedGeoTiff', () => {
  it('writes every layout the test names', () => {
    const names = fixtures.map((f) => f.name).join(' ');
    for (const part of ['tiled-pixel', 'tiled-band', 'striped-pixel', 'striped-band', 'u8', 'u16', 'i16', 'f32'])
      expect(names).toContain(part);
    for (const part of ['deflate-p1', 'deflate-p2', 'lzw', 'raw', 'bigendian']) expect(names).toContain(part);
  });

  it('reads every window of every layout bit for bit like decodeGeoTiff, from a file', async () => {
    for (const fixture of fixtures) await expectWindowsMatch(await fileByteSource(fixture.path), fixture);
  });

  it('reads every window of every layout bit for bit like decodeGeoTiff, from MinIO by ranged reads', async () => {
    for (const fixture of fixtures)
      await expectWindowsMatch(await storedByteSource(store, `scenes/${fixture.name}.tif`), fixture);
  });

  it('fetches only the blocks a window touches', async () => {
    const fixture = fixtures.find((f) => f.name === 'tiled-band-u16-deflate-p1')!;
    const file = await fileByteSource(fixture.path);
    const reads: { start: number; length: number }[] = [];
    const counting: ByteSource = {
      size: file.size,
      read: (start, length, signal) => {
        reads.push({ start, length });
        return file.read(start, length, signal);
      },
      close: file.close,
    };
    const tiff = await openWindowedGeoTiff(counting, fixture.name);
    const headerReads = reads.length;
    expect(reads.reduce((sum, r) => sum + r.length, 0)).toBeLessThan(file.size); // the IFD, not the file

    // Block sizes from an independent parse (the same file read whole by geotiff.js).
    const { fromFile } = await import('geotiff');
    const parsed = await fromFile(fixture.path);
    const fd = (await parsed.getImage(0)).getFileDirectory() as { TileOffsets: number[]; TileByteCounts: number[] };
    await parsed.close();
    const across = Math.ceil(W / 32);
    const perPlane = across * Math.ceil(H / 32);
    // One block (32 x 32 at block column 1, row 2) of each of the 3 bands.
    const wanted = [0, 1, 2].map((plane) => plane * perPlane + 2 * across + 1);
    await tiff.readWindow({ x: 32 + 3, y: 64 + 5, w: 20, h: 20 });
    const windowReads = reads.slice(headerReads);
    const read = windowReads.reduce((sum, r) => sum + r.length, 0);
    const blockBytes = wanted.reduce((sum, i) => sum + fd.TileByteCounts[i]!, 0);
    expect(read).toBe(blockBytes);
    for (const r of windowReads)
      expect(wanted.some((i) => fd.TileOffsets[i]! >= r.start && fd.TileOffsets[i]! < r.start + r.length)).toBe(true);

    // A full-width strip of one block row: 3 bands x 7 blocks, each plane's row contiguous: one read per band.
    reads.length = 0;
    await tiff.readWindow({ x: 0, y: 32, w: W, h: 32 });
    expect(reads.length).toBe(3);
    const rowBlocks = [0, 1, 2].flatMap((plane) =>
      Array.from({ length: across }, (_, tx) => plane * perPlane + across + tx),
    );
    expect(reads.reduce((sum, r) => sum + r.length, 0)).toBe(
      rowBlocks.reduce((sum, i) => sum + fd.TileByteCounts[i]!, 0),
    );
    await tiff.close();
  });

  it('coalesces adjacent blocks into ranged reads of bounded size', () => {
    const blocks = Array.from({ length: 40 }, (_, i) => ({ index: i, offset: 1000 + i * (1 << 20), count: 1 << 20 }));
    const ranges = coalesceBlocks([...blocks].reverse());
    expect(ranges.length).toBe(Math.ceil((40 << 20) / MAX_RANGE_BYTES));
    for (const range of ranges) expect(range.end - range.start).toBeLessThanOrEqual(MAX_RANGE_BYTES);
    expect(ranges.flatMap((r) => r.blocks.map((b) => b.index))).toEqual(blocks.map((b) => b.index));
    // A gap of more than a block leader splits; a block larger than the bound is read alone.
    expect(
      coalesceBlocks([
        { index: 0, offset: 0, count: 10 },
        { index: 1, offset: 1_000_000, count: 10 },
      ]),
    ).toHaveLength(2);
    expect(coalesceBlocks([{ index: 0, offset: 0, count: MAX_RANGE_BYTES * 2 }])).toHaveLength(1);
  });

  it('throws InvalidGeoTiffError with a readable message for files that are not GeoTIFFs or are cut short', async () => {
    const notTiff = path.join(tmp, 'not.tif');
    fs.writeFileSync(notTiff, 'this is not a tiff file at all, just text\n'.repeat(40));
    await expect(openWindowedGeoTiff(await fileByteSource(notTiff), 'not.tif')).rejects.toThrow(
      /^not a TIFF file \(starts with/,
    );
    const empty = path.join(tmp, 'empty.tif');
    fs.writeFileSync(empty, '');
    await expect(openWindowedGeoTiff(await fileByteSource(empty), 'empty.tif')).rejects.toThrow('the file is empty');

    // The header and IFD survive (GDAL writes them first), the blocks near the end do not.
    const source = fixtures.find((f) => f.name === 'tiled-pixel-u16-deflate-p2')!;
    const bytes = fs.readFileSync(source.path);
    const cut = path.join(tmp, 'cut.tif');
    fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const tiff = await openWindowedGeoTiff(await fileByteSource(cut), 'cut.tif');
    await expect(tiff.readWindow({ x: 0, y: 0, w: 10, h: 10 })).resolves.toMatchObject({ width: 10, height: 10 });
    const error = await tiff.readWindow({ x: 0, y: H - 10, w: W, h: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidGeoTiffError);
    expect((error as Error).message).toMatch(/truncated/);
    await tiff.close();
  });

  it('rejects windows outside the image, a missing object, and an aborted read', async () => {
    const fixture = fixtures[0]!;
    const tiff = await openWindowedGeoTiff(await fileByteSource(fixture.path), fixture.name);
    await expect(tiff.readWindow({ x: W, y: 0, w: 5, h: 5 })).rejects.toBeInstanceOf(RangeError);
    await expect(tiff.readWindow({ x: 0, y: 0, w: 0, h: 5 })).rejects.toBeInstanceOf(RangeError);
    await expect(tiff.readWindow({ x: 0.5, y: 0, w: 5, h: 5 })).rejects.toBeInstanceOf(RangeError);
    const controller = new AbortController();
    controller.abort(new Error('attempt cancelled'));
    await expect(tiff.readWindow({ x: 0, y: 0, w: W, h: H }, controller.signal)).rejects.toThrow('attempt cancelled');
    await tiff.close();
    await expect(storedByteSource(store, 'scenes/missing.tif')).rejects.toBeInstanceOf(ObjectNotFoundError);

    // Storage failures are passed on as they are (retryable), not reported as an invalid file.
    const file = await fileByteSource(fixture.path);
    let failing = false;
    const flaky: ByteSource = {
      size: file.size,
      read: async (start, length) => {
        if (failing) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        return file.read(start, length);
      },
      close: file.close,
    };
    const opened = await openWindowedGeoTiff(flaky, fixture.name);
    failing = true;
    const error = await opened.readWindow({ x: 0, y: 0, w: W, h: H }).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(InvalidGeoTiffError);
    expect(error).toMatchObject({ message: 'socket hang up', code: 'ECONNRESET' });
    await opened.close();
  });
});
