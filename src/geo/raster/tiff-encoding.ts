/** A small TIFF encoder (classic TIFF, little endian, tiled single-band uint8) for mask-geotiff.ts and mask-cog.ts. */
import * as zlib from 'node:zlib';
import { runLimited } from '../concurrency';
import { BLOCKS_IN_FLIGHT, deflateAsync } from './deflate';
import type { GeoReference } from './georeference';

/** Largest offset a classic (non-Big) TIFF can address. */
export const MAX_CLASSIC_TIFF_BYTES = 0xffffffff;

type TagType = 2 | 3 | 4 | 12; // ASCII, SHORT, LONG, DOUBLE
export interface TiffTag {
  code: number;
  type: TagType;
  values: number[] | string;
}

const TYPE_SIZE: Record<TagType, number> = { 2: 1, 3: 2, 4: 4, 12: 8 };
const TILE_OFFSETS = 324;
const TILE_BYTE_COUNTS = 325;

/** A single-band uint8 image, row-major. */
export interface MaskImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

/** A tile's encoded size: the tile itself, or only its length where the bytes are elsewhere (streamed writers). */
export interface TileSize {
  byteLength: number;
}

export function checkMaskSize(mask: Uint8Array, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new Error(`mask size must be positive integers, got ${width} x ${height}`);
  if (mask.length !== width * height)
    throw new Error(`mask has ${mask.length} values, expected ${width} x ${height} = ${width * height}`);
}

export function checkTileSize(tileSize: number): void {
  if (!Number.isInteger(tileSize) || tileSize <= 0 || tileSize % 16 !== 0)
    throw new Error(`tileSize must be a positive multiple of 16, got ${tileSize}`);
}

/**
 * Cuts the image into row-major tiles (edge tiles padded with 0 to full size, as TIFF requires) and deflates
 * them on the libuv thread pool, a bounded number at a time so that only that many uncompressed tiles exist.
 * `deflate` null = stored uncompressed.
 */
export async function encodeMaskTiles(
  image: MaskImage,
  tileSize: number,
  deflate: { deflateLevel: number } | null,
): Promise<Uint8Array[]> {
  const { pixels, width, height } = image;
  const across = Math.ceil(width / tileSize);
  const down = Math.ceil(height / tileSize);
  const encoded = new Array<Uint8Array>(across * down);
  // One output chunk per tile: zlib's default 16 kB chunks cost a thread-pool round trip each.
  const zlibOptions = deflate
    ? { level: deflate.deflateLevel, chunkSize: Math.max(zlib.constants.Z_MIN_CHUNK, tileSize * tileSize) }
    : null;
  await runLimited(encoded.length, BLOCKS_IN_FLIGHT, async (index) => {
    const x0 = (index % across) * tileSize;
    const y0 = Math.floor(index / across) * tileSize;
    const w = Math.min(tileSize, width - x0);
    const h = Math.min(tileSize, height - y0);
    const tile = new Uint8Array(tileSize * tileSize);
    for (let r = 0; r < h; r++)
      tile.set(pixels.subarray((y0 + r) * width + x0, (y0 + r) * width + x0 + w), r * tileSize);
    encoded[index] = zlibOptions ? await deflateAsync(tile, zlibOptions) : tile;
  });
  return encoded;
}

/**
 * Tags of a tiled single-band uint8 image, BlackIsZero, with TileOffsets to be filled by setTileOffsets.
 * `nodata` goes to GDAL_NODATA. Georeferencing is separate (georeferenceTags).
 */
export function maskImageTags(
  width: number,
  height: number,
  tileSize: number,
  deflate: boolean,
  tiles: readonly TileSize[],
  nodata: number | undefined,
): TiffTag[] {
  const tags: TiffTag[] = [
    { code: 256, type: 4, values: [width] },
    { code: 257, type: 4, values: [height] },
    { code: 258, type: 3, values: [8] },
    { code: 259, type: 3, values: [deflate ? 8 : 1] },
    { code: 262, type: 3, values: [1] }, // BlackIsZero
    { code: 277, type: 3, values: [1] },
    { code: 284, type: 3, values: [1] },
    { code: 322, type: 3, values: [tileSize] },
    { code: 323, type: 3, values: [tileSize] },
    { code: TILE_OFFSETS, type: 4, values: new Array<number>(tiles.length).fill(0) },
    { code: TILE_BYTE_COUNTS, type: 4, values: tiles.map((tile) => tile.byteLength) },
    { code: 339, type: 3, values: [1] }, // SampleFormat uint
  ];
  if (nodata !== undefined) tags.push({ code: 42113, type: 2, values: String(nodata) });
  return tags;
}

/** The input's georeferencing tags, copied verbatim so that GDAL sees the same CRS and transform. */
export function georeferenceTags(georef: GeoReference): TiffTag[] {
  const tags: TiffTag[] = [];
  if (georef.modelPixelScale) tags.push({ code: 33550, type: 12, values: georef.modelPixelScale });
  if (georef.modelTiepoint) tags.push({ code: 33922, type: 12, values: georef.modelTiepoint });
  if (georef.modelTransformation) tags.push({ code: 34264, type: 12, values: georef.modelTransformation });
  if (georef.geoKeyDirectory) tags.push({ code: 34735, type: 3, values: georef.geoKeyDirectory });
  if (georef.geoDoubleParams) tags.push({ code: 34736, type: 12, values: georef.geoDoubleParams });
  if (georef.geoAsciiParams) tags.push({ code: 34737, type: 2, values: georef.geoAsciiParams });
  return tags;
}

/**
 * Fills TileOffsets for tiles laid out one after the other from `firstTileAt`, `gap` bytes apart
 * (the COG block leader and trailer). Returns the offset just past the last tile.
 */
export function setTileOffsets(tags: TiffTag[], tiles: readonly TileSize[], firstTileAt: number, gap: number): number {
  let cursor = firstTileAt;
  tags.find((tag) => tag.code === TILE_OFFSETS)!.values = tiles.map((tile) => {
    const at = cursor;
    cursor += tile.byteLength + gap;
    return at;
  });
  return cursor - gap;
}

function valueBytes(tag: TiffTag): number {
  return typeof tag.values === 'string'
    ? Buffer.byteLength(tag.values, 'latin1') + 1
    : tag.values.length * TYPE_SIZE[tag.type];
}

/** Bytes of an IFD with its out-of-line values (word-aligned), as writeIfd lays it out. */
export function ifdByteLength(tags: readonly TiffTag[]): number {
  let size = 2 + tags.length * 12 + 4;
  for (const tag of tags) {
    const bytes = valueBytes(tag);
    if (bytes > 4) size += bytes + (bytes & 1);
  }
  return size;
}

/** 'II', 42, offset of the first IFD. */
export function writeTiffHeader(buf: Buffer, firstIfdAt: number): void {
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(firstIfdAt, 4);
}

/** Writes an IFD at `at` (entries sorted by tag code, as TIFF requires), its out-of-line values right after it. */
export function writeIfd(buf: Buffer, at: number, tags: readonly TiffTag[], nextIfdAt: number): void {
  const sorted = [...tags].sort((a, b) => a.code - b.code);
  buf.writeUInt16LE(sorted.length, at);
  let entry = at + 2;
  let extra = at + 2 + sorted.length * 12 + 4;
  for (const tag of sorted) {
    const size = valueBytes(tag);
    buf.writeUInt16LE(tag.code, entry);
    buf.writeUInt16LE(tag.type, entry + 2);
    buf.writeUInt32LE(typeof tag.values === 'string' ? size : tag.values.length, entry + 4);
    let valueAt = entry + 8;
    if (size > 4) {
      buf.writeUInt32LE(extra, entry + 8);
      valueAt = extra;
      extra += size + (size & 1);
    }
    writeValues(buf, valueAt, tag);
    entry += 12;
  }
  buf.writeUInt32LE(nextIfdAt, entry);
}

function writeValues(buf: Buffer, at: number, tag: TiffTag): void {
  if (typeof tag.values === 'string') {
    buf.write(`${tag.values}\0`, at, 'latin1');
    return;
  }
  const size = TYPE_SIZE[tag.type];
  tag.values.forEach((value, i) => {
    const pos = at + i * size;
    if (tag.type === 3) buf.writeUInt16LE(value, pos);
    else if (tag.type === 4) buf.writeUInt32LE(value, pos);
    else if (tag.type === 12) buf.writeDoubleLE(value, pos);
  });
}
