/**
 * Class-mask COGs written incrementally, for scenes whose full-resolution mask must never be held whole: the
 * same file as encodeMaskCog (mask-cog.ts) writes, byte for byte, built from block rows (blockSize rows of the
 * full width) that are compressed as soon as the model has produced them (encodeMaskBlockRow) and kept where the
 * caller likes (object storage, so that a resumed attempt finds them), then put together (assembleMaskCog):
 * 1. each block row is fetched and decoded once to feed the overviews (sampled on the fly, GDAL's nearest source
 *    pixels as overviewLevels picks them, each level a stream of rows compressed tile row by tile row) and the
 *    class histogram; the full-resolution tile sizes are noted;
 * 2. the header (all IFDs) and the overview tiles are written, then each block row is fetched again and its
 *    tiles copied to the file, in order.
 * Memory: a block row or two of each level plus the compressed overviews, whatever the image size.
 */
import { promises as fsp } from 'node:fs';
import * as zlib from 'node:zlib';
import { runLimited } from '../concurrency';
import { BLOCKS_IN_FLIGHT, inflateAsync } from './deflate';
import type { GeoReference } from './georeference';
import {
  framedTile,
  maskCogHead,
  overviewPlan,
  resolveMaskCogOptions,
  sourceIndices,
  type WriteMaskCogOptions,
} from './mask-cog';
import { encodeMaskTiles, type TileSize } from './tiff-encoding';

export interface MaskCogLayout {
  width: number;
  height: number;
  blockSize: number;
  nodata: number;
  deflateLevel: number;
}

/** "MCBR": a mask COG block row, as encodeMaskBlockRow writes it. */
const BLOCK_ROW_MAGIC = 0x5242434d;
/** magic, row, width, height, blockSize, tile count (uint32 LE each), then the tile byte lengths, then the tiles. */
const BLOCK_ROW_HEADER_WORDS = 6;

/** The layout of a width x height mask COG with writeMaskCog's options (validated like encodeMaskCog). */
export function maskCogLayout(width: number, height: number, options: WriteMaskCogOptions): MaskCogLayout {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new Error(`mask size must be positive integers, got ${width} x ${height}`);
  const { blockSize, nodata, deflateLevel } = resolveMaskCogOptions(options);
  return { width, height, blockSize, nodata, deflateLevel };
}

/** Number of block rows: ceil(height / blockSize). */
export function blockRowCount(layout: MaskCogLayout): number {
  return Math.ceil(layout.height / layout.blockSize);
}

/** Rows of full resolution in block row `row` (the last one may be short). */
export function blockRowHeight(layout: MaskCogLayout, row: number): number {
  checkRow(layout, row);
  return Math.min(layout.blockSize, layout.height - row * layout.blockSize);
}

function tilesAcross(layout: MaskCogLayout): number {
  return Math.ceil(layout.width / layout.blockSize);
}

function checkRow(layout: MaskCogLayout, row: number): void {
  const rows = blockRowCount(layout);
  if (!Number.isInteger(row) || row < 0 || row >= rows)
    throw new Error(`block row must be an integer 0-${rows - 1}, got ${row}`);
}

/**
 * Compresses one full-resolution block row: `pixels` = the rows [row*blockSize, min(height, (row+1)*blockSize))
 * x width, row-major. Returns one self-describing buffer (its place in the layout, the tile byte lengths, the
 * tiles), storable as one object.
 */
export async function encodeMaskBlockRow(layout: MaskCogLayout, row: number, pixels: Uint8Array): Promise<Buffer> {
  const rows = blockRowHeight(layout, row);
  if (pixels.length !== rows * layout.width)
    throw new Error(
      `block row ${row} needs ${rows} x ${layout.width} = ${rows * layout.width} pixels, got ${pixels.length}`,
    );
  const tiles = await encodeMaskTiles({ pixels, width: layout.width, height: rows }, layout.blockSize, {
    deflateLevel: layout.deflateLevel,
  });
  const header = Buffer.alloc(4 * (BLOCK_ROW_HEADER_WORDS + tiles.length));
  [BLOCK_ROW_MAGIC, row, layout.width, layout.height, layout.blockSize, tiles.length].forEach((word, i) =>
    header.writeUInt32LE(word, 4 * i),
  );
  tiles.forEach((tile, i) => header.writeUInt32LE(tile.byteLength, 4 * (BLOCK_ROW_HEADER_WORDS + i)));
  return Buffer.concat([header, ...tiles]);
}

/** The tiles of a block row buffer (views into it), checked against the layout and the row expected. */
export function decodeBlockRowTiles(layout: MaskCogLayout, row: number, buffer: Buffer): Buffer[] {
  const across = tilesAcross(layout);
  const fail = (why: string): never => {
    throw new Error(`block row ${row} of the ${layout.width} x ${layout.height} mask COG: ${why}`);
  };
  if (buffer.byteLength < 4 * BLOCK_ROW_HEADER_WORDS || buffer.readUInt32LE(0) !== BLOCK_ROW_MAGIC)
    fail('not a block row written by encodeMaskBlockRow');
  const words = Array.from({ length: BLOCK_ROW_HEADER_WORDS }, (_, i) => buffer.readUInt32LE(4 * i));
  const [, storedRow, width, height, blockSize, count] = words as [number, number, number, number, number, number];
  if (storedRow !== row) fail(`the buffer holds block row ${storedRow}`);
  if (width !== layout.width || height !== layout.height || blockSize !== layout.blockSize)
    fail(`the buffer was encoded for a ${width} x ${height} layout with ${blockSize}-pixel blocks`);
  if (count !== across) fail(`the buffer has ${count} tiles, expected ${across}`);
  let at = 4 * (BLOCK_ROW_HEADER_WORDS + count);
  if (buffer.byteLength < at) fail('truncated');
  const tiles: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const length = buffer.readUInt32LE(4 * (BLOCK_ROW_HEADER_WORDS + i));
    if (at + length > buffer.byteLength) fail('truncated');
    tiles.push(buffer.subarray(at, at + length));
    at += length;
  }
  if (at !== buffer.byteLength) fail(`${buffer.byteLength - at} bytes after the last tile`);
  return tiles;
}

/**
 * One overview level built as a stream of rows of the image it samples (in order): each output row is taken
 * (GDAL's nearest pixels) when its source row arrives, passed on to the levels sampled from this one, and every
 * blockSize rows the tile row is compressed. Only one tile row of pixels is held.
 */
class OverviewStream {
  readonly children: OverviewStream[] = [];
  readonly tileRows: Array<Promise<Uint8Array[]>> = [];
  private readonly sourceRows: Int32Array;
  private readonly sourceColumns: Int32Array;
  private strip: Uint8Array;
  private nextRow = 0;

  constructor(
    readonly width: number,
    readonly height: number,
    sourceWidth: number,
    sourceHeight: number,
    private readonly layout: MaskCogLayout,
  ) {
    this.sourceRows = sourceIndices(sourceHeight, height);
    this.sourceColumns = sourceIndices(sourceWidth, width);
    this.strip = new Uint8Array(Math.min(layout.blockSize, height) * width);
  }

  /** Source row `index` (sourceWidth pixels); rows must come in order. */
  push(index: number, source: Uint8Array): void {
    const { width, height, sourceRows, sourceColumns } = this;
    const { blockSize } = this.layout;
    while (this.nextRow < height && sourceRows[this.nextRow] === index) {
      const inStrip = this.nextRow % blockSize;
      const out = this.strip.subarray(inStrip * width, (inStrip + 1) * width);
      for (let x = 0; x < width; x++) out[x] = source[sourceColumns[x]!]!;
      for (const child of this.children) child.push(this.nextRow, out);
      this.nextRow++;
      if (inStrip === blockSize - 1 || this.nextRow === height) this.flush(inStrip + 1);
    }
  }

  private flush(rows: number): void {
    const pixels = this.strip.subarray(0, rows * this.width);
    this.tileRows.push(
      encodeMaskTiles({ pixels, width: this.width, height: rows }, this.layout.blockSize, {
        deflateLevel: this.layout.deflateLevel,
      }),
    );
    this.strip = new Uint8Array(this.strip.length);
  }

  async tiles(): Promise<Uint8Array[]> {
    if (this.nextRow !== this.height)
      throw new Error(`overview ${this.width} x ${this.height} got ${this.nextRow} of its rows`);
    return (await Promise.all(this.tileRows)).flat();
  }
}

/**
 * Writes the COG to `outFile` from the encoded block rows (fetched by index, in order, twice). Overviews are
 * built from the written tiles (decoded block row by block row, GDAL's nearest sources as overviewLevels picks
 * them), never from a whole-image array. Returns the class histogram (count per value 0..255) of the full
 * resolution.
 */
export async function assembleMaskCog(
  layout: MaskCogLayout,
  georef: GeoReference,
  blockRow: (row: number) => Promise<Buffer>,
  outFile: string,
): Promise<{ histogram: Uint32Array }> {
  const { width, height, blockSize, nodata } = layout;
  const rows = blockRowCount(layout);
  const across = tilesAcross(layout);

  const overviews: OverviewStream[] = [];
  const fromFull: OverviewStream[] = [];
  for (const level of overviewPlan(width, height, blockSize)) {
    const source = level.sampledFrom === 0 ? { width, height } : overviews[level.sampledFrom - 1]!;
    const stream = new OverviewStream(level.width, level.height, source.width, source.height, layout);
    (level.sampledFrom === 0 ? fromFull : overviews[level.sampledFrom - 1]!.children).push(stream);
    overviews.push(stream);
  }

  // Pass 1: decode each block row for the overviews and the histogram; note its tile sizes.
  const histogram = new Uint32Array(256);
  const fullTiles: TileSize[] = [];
  const inflateOptions = { chunkSize: Math.max(zlib.constants.Z_MIN_CHUNK, blockSize * blockSize) };
  for (let row = 0; row < rows; row++) {
    const tiles = decodeBlockRowTiles(layout, row, await blockRow(row));
    const rowHeight = blockRowHeight(layout, row);
    const pixels = new Uint8Array(rowHeight * width);
    await runLimited(across, BLOCKS_IN_FLIGHT, async (index) => {
      const tile = await inflateAsync(tiles[index]!, inflateOptions);
      if (tile.byteLength !== blockSize * blockSize)
        throw new Error(
          `block row ${row}, tile ${index}: ${tile.byteLength} bytes inflated, expected ${blockSize ** 2}`,
        );
      const x0 = index * blockSize;
      const w = Math.min(blockSize, width - x0);
      for (let r = 0; r < rowHeight; r++) pixels.set(tile.subarray(r * blockSize, r * blockSize + w), r * width + x0);
    });
    for (const tile of tiles) fullTiles.push({ byteLength: tile.byteLength });
    for (let i = 0; i < pixels.length; i++) histogram[pixels[i]!]!++;
    for (let r = 0; r < rowHeight; r++) {
      const line = pixels.subarray(r * width, (r + 1) * width);
      for (const stream of fromFull) stream.push(row * blockSize + r, line);
    }
    // Bound the compressed-but-pending overview work to about one block row.
    await Promise.all(overviews.flatMap((stream) => stream.tileRows));
  }
  const overviewTiles = await Promise.all(overviews.map((stream) => stream.tiles()));

  const { head, fileBytes } = maskCogHead(
    [
      { width, height, tiles: fullTiles },
      ...overviews.map((stream, index) => ({
        width: stream.width,
        height: stream.height,
        tiles: overviewTiles[index]!,
      })),
    ],
    georef,
    blockSize,
    nodata,
  );

  // Pass 2: header, overview tiles (smallest first), then the full-resolution tiles copied block row by block row.
  const fd = await fsp.open(outFile, 'w');
  try {
    let written = 0;
    const write = async (parts: Uint8Array[]) => {
      const { bytesWritten } = await fd.writev(parts);
      written += bytesWritten;
    };
    await write([head]);
    for (let level = overviewTiles.length - 1; level >= 0; level--)
      await write(overviewTiles[level]!.flatMap((tile) => framedTile(tile)));
    for (let row = 0; row < rows; row++) {
      const tiles = decodeBlockRowTiles(layout, row, await blockRow(row));
      tiles.forEach((tile, index) => {
        if (tile.byteLength !== fullTiles[row * across + index]!.byteLength)
          throw new Error(`block row ${row} changed between its two reads (tile ${index} has another size)`);
      });
      await write(tiles.flatMap((tile) => framedTile(tile)));
    }
    if (written !== fileBytes) throw new Error(`wrote ${written} bytes of the ${fileBytes} the layout declares`);
  } finally {
    await fd.close();
  }
  return { histogram };
}
