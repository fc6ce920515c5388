import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeMaskCog } from '../../src/geo/raster/mask-cog';
import {
  assembleMaskCog,
  blockRowCount,
  encodeMaskBlockRow,
  maskCogLayout,
  type MaskCogLayout,
} from '../../src/geo/raster/streaming-mask-cog';
import type { GeoReference } from '../../src/geo/raster/georeference';

/** EPSG:32633, 10 m pixels. */
const GEOREF: GeoReference = {
  modelPixelScale: [10, 10, 0],
  modelTiepoint: [0, 0, 0, 600000, 5400000, 0],
  geoKeyDirectory: [1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633, 3076, 0, 1, 9001],
  geoKeys: {},
};

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Uniform random classes 0..classes-1, a nodata column band. */
function randomMask(width: number, height: number, seed: number, nodata: number, classes = 5): Uint8Array {
  const random = lcg(seed);
  return new Uint8Array(width * height).map((_, i) =>
    i % width < width / 10 ? nodata : Math.floor(random() * classes),
  );
}

/** Class blocks (31 x 17) with 1 % salt, as real model outputs look. */
function blockyMask(width: number, height: number, seed: number, nodata: number): Uint8Array {
  const random = lcg(seed);
  return new Uint8Array(width * height).map((_, i) => {
    const x = i % width;
    const y = Math.floor(i / width);
    if (y < 3) return nodata;
    if (random() < 0.01) return Math.floor(random() * 4);
    return (Math.floor(x / 31) * 7 + Math.floor(y / 17) * 3) % 4;
  });
}

/** The block rows of `mask`, encoded. */
async function encodeAll(layout: MaskCogLayout, mask: Uint8Array): Promise<Buffer[]> {
  const rows: Buffer[] = [];
  for (let row = 0; row < blockRowCount(layout); row++) {
    const y0 = row * layout.blockSize;
    const y1 = Math.min(layout.height, y0 + layout.blockSize);
    rows.push(await encodeMaskBlockRow(layout, row, mask.subarray(y0 * layout.width, y1 * layout.width)));
  }
  return rows;
}

describe('streaming mask COG (encodeMaskBlockRow + assembleMaskCog)', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'streaming-mask-cog-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: Array<{
    width: number;
    height: number;
    blockSize: number;
    nodata: number;
    kind: 'random' | 'blocky';
    deflateLevel?: number;
  }> = [
    { width: 1, height: 1, blockSize: 256, nodata: 255, kind: 'random' },
    { width: 255, height: 257, blockSize: 256, nodata: 255, kind: 'random' },
    { width: 255, height: 257, blockSize: 512, nodata: 0, kind: 'blocky' },
    { width: 600, height: 1000, blockSize: 256, nodata: 255, kind: 'blocky' },
    { width: 600, height: 1000, blockSize: 512, nodata: 7, kind: 'random' },
    { width: 1000, height: 600, blockSize: 512, nodata: 255, kind: 'blocky', deflateLevel: 1 },
    { width: 1100, height: 900, blockSize: 256, nodata: 0, kind: 'blocky', deflateLevel: 9 },
    // GDAL samples the later overviews of a 1-pixel-wide chain from full resolution.
    { width: 3, height: 1207, blockSize: 256, nodata: 255, kind: 'random' },
    { width: 3000, height: 257, blockSize: 16, nodata: 255, kind: 'blocky' },
    { width: 4100, height: 530, blockSize: 256, nodata: 9, kind: 'random' },
  ];

  it.each(cases)(
    'writes the bytes of encodeMaskCog for $width x $height, block $blockSize, nodata $nodata, $kind mask',
    async (c) => {
      const options = { nodata: c.nodata, blockSize: c.blockSize, deflateLevel: c.deflateLevel };
      const mask =
        c.kind === 'random'
          ? randomMask(c.width, c.height, c.width * 31 + c.height, c.nodata)
          : blockyMask(c.width, c.height, c.height, c.nodata);
      const layout = maskCogLayout(c.width, c.height, options);
      expect(blockRowCount(layout)).toBe(Math.ceil(c.height / c.blockSize));
      const rows = await encodeAll(layout, mask);
      const fetched: number[] = [];
      const out = path.join(dir, `${c.width}x${c.height}-${c.blockSize}-${c.nodata}.tif`);
      const { histogram } = await assembleMaskCog(
        layout,
        GEOREF,
        async (row) => {
          fetched.push(row);
          return rows[row]!;
        },
        out,
      );
      const expected = Buffer.concat(await encodeMaskCog(mask, c.width, c.height, GEOREF, options));
      const written = fs.readFileSync(out);
      expect(written.byteLength).toBe(expected.byteLength);
      expect(written.equals(expected)).toBe(true);

      const counts = new Uint32Array(256);
      for (const value of mask) counts[value]!++;
      expect(Array.from(histogram)).toEqual(Array.from(counts));
      // In order, each row at most twice.
      const n = rows.length;
      expect(fetched).toEqual([...Array(n).keys(), ...Array(n).keys()]);
    },
  );

  it('validates like encodeMaskCog and refuses block rows that do not fit the layout', async () => {
    expect(() => maskCogLayout(0, 10, { nodata: 0 })).toThrow(/positive integers/);
    expect(() => maskCogLayout(10, 10, { nodata: 256 })).toThrow(/nodata/);
    expect(() => maskCogLayout(10, 10, { nodata: 0, blockSize: 100 })).toThrow(/multiple of 16/);
    expect(() => maskCogLayout(10, 10, { nodata: 0, deflateLevel: 0 })).toThrow(/deflateLevel/);
    const layout = maskCogLayout(300, 300, { nodata: 255 });
    await expect(encodeMaskBlockRow(layout, 0, new Uint8Array(300 * 255))).rejects.toThrow(/256 x 300/);
    await expect(encodeMaskBlockRow(layout, 2, new Uint8Array(300 * 44))).rejects.toThrow(/block row/);
    const mask = blockyMask(300, 300, 1, 255);
    const rows = await encodeAll(layout, mask);
    const out = path.join(dir, 'swapped.tif');
    await expect(assembleMaskCog(layout, GEOREF, async (row) => rows[1 - row]!, out)).rejects.toThrow(
      /holds block row 1/,
    );
    const other = maskCogLayout(300, 301, { nodata: 255 });
    await expect(assembleMaskCog(other, GEOREF, async (row) => rows[row]!, out)).rejects.toThrow(/300 x 300 layout/);
    await expect(
      assembleMaskCog(layout, GEOREF, async (row) => rows[row]!.subarray(0, rows[row]!.byteLength - 1), out),
    ).rejects.toThrow(/truncated/);
  });

  it('assembles a 20000 x 20000 mask without ever holding it (RSS growth well under 400 MB)', async () => {
    const layout = maskCogLayout(20000, 20000, { nodata: 255 });
    // Two kinds of block rows (a constant class, a striped one), encoded once and fed lazily.
    const rowPixels = (kind: number, rows: number) =>
      new Uint8Array(rows * layout.width).map((_, i) => (kind === 0 ? 3 : (i % layout.width) % 512 < 256 ? 1 : 2));
    const full = [
      await encodeMaskBlockRow(layout, 0, rowPixels(0, 256)),
      await encodeMaskBlockRow(layout, 1, rowPixels(1, 256)),
    ];
    const rowCount = blockRowCount(layout);
    const lastHeight = layout.height - (rowCount - 1) * layout.blockSize;
    const last = await encodeMaskBlockRow(layout, rowCount - 1, rowPixels((rowCount - 1) % 2, lastHeight));
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const out = path.join(dir, 'large.tif');
    const { histogram } = await assembleMaskCog(
      layout,
      GEOREF,
      async (row) => {
        peak = Math.max(peak, process.memoryUsage().rss);
        if (row === rowCount - 1) return last;
        // Each row's own index in its header: re-encode the two templates' header word for this row.
        const template = Buffer.from(full[row % 2]!);
        template.writeUInt32LE(row, 4);
        return template;
      },
      out,
    );
    peak = Math.max(peak, process.memoryUsage().rss);
    const growthMb = (peak - before) / 2 ** 20;
    expect(growthMb).toBeLessThan(400);
    let constantPixels = 0;
    for (let row = 0; row < rowCount; row++)
      if (row % 2 === 0) constantPixels += Math.min(256, layout.height - row * 256) * layout.width;
    expect(histogram[3]).toBe(constantPixels);
    expect(histogram[1]! + histogram[2]!).toBe(layout.width * layout.height - constantPixels);
    if (process.env.REPORT_RSS) console.log(`RSS growth ${growthMb.toFixed(0)} MB`);
    expect(fs.statSync(out).size).toBeGreaterThan(0);
  }, 300_000);
});
