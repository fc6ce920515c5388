/**
 * Windows of a GeoTIFF without holding the file or its decoded raster: geotiff.js parses the header and the
 * IFD (tag arrays such as TileOffsets read once, by ranged reads), and each readWindow fetches only the blocks
 * (tiles or strips) the window touches, adjacent blocks coalesced into a few bounded ranged reads, decoded with
 * decode.ts's fast path (block-decode.ts). A scene of 10980 x 10980 x 6 can so be read strip by strip.
 */
import { promises as fsp } from 'node:fs';
import { GeoTIFF, type GeoTIFFImage } from 'geotiff';
import { runLimited } from '../concurrency';
import { ObjectNotFoundError, type ObjectStore } from '../../platform/storage/object-store';
import { ARRAY_FOR, blockDecoderOf, HOST_LITTLE_ENDIAN, type BlockDecoder } from './block-decode';
import { ownArrayBuffer } from './buffers';
import { BLOCKS_IN_FLIGHT } from './deflate';
import type { GeoReference } from './georeference';
import { describeDataType, georefOf, parseNodata } from './geotiff-image';
import { checkTiffHeaderBytes } from './inspect';
import { asInvalid, InvalidGeoTiffError } from './invalid-geotiff';
import type { Raster, RasterDataType, RasterTypedArray } from './raster';

/** Random access to the bytes of one file or object. */
export interface ByteSource {
  size: number;
  /** Bytes start .. start+length-1; fewer when the range reaches past the end. */
  read(start: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export interface PixelWindow {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface WindowedGeoTiff {
  width: number;
  height: number;
  bandCount: number;
  dataType: RasterDataType;
  georef: GeoReference;
  nodata: number | null;
  /** Block size of the first image (tile size, or width x rows-per-strip for stripped files). */
  blockWidth: number;
  blockHeight: number;
  tiled: boolean;
  /** Decoded bytes of one full-width row of all bands (width * bandCount * bytes per sample): memory planning. */
  rowBytes: number;
  /** The pixels of `window` (clipped to the image), one array per band, as decodeGeoTiff would give for that window. */
  readWindow(window: PixelWindow, signal?: AbortSignal): Promise<Raster>;
  close(): Promise<void>;
}

/** Upper bound of one coalesced ranged read: few requests, bounded memory per request. */
export const MAX_RANGE_BYTES = 16 << 20;
/** Bytes between two blocks that are still read through rather than split into two requests (COG block leaders). */
const MAX_RANGE_GAP = 1024;

/** Errors of ByteSource.read (storage or file I/O, aborts): passed on as they are, never reported as an invalid file. */
const sourceErrors = new WeakSet<object>();

async function readSource(
  source: ByteSource,
  start: number,
  length: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  try {
    return await source.read(start, length, signal);
  } catch (error) {
    if (typeof error === 'object' && error !== null) sourceErrors.add(error);
    throw error;
  }
}

const isSourceError = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && sourceErrors.has(error);

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('the read was aborted');
}

/** A stored object as a ByteSource (its size from a stat; ObjectNotFoundError when it is missing). */
export async function storedByteSource(store: ObjectStore, key: string): Promise<ByteSource> {
  const info = await store.stat(key);
  if (!info) throw new ObjectNotFoundError(key);
  return {
    size: info.size,
    async read(start, length, signal) {
      throwIfAborted(signal);
      const bytes = await store.getRange(key, start, length);
      throwIfAborted(signal);
      return bytes;
    },
  };
}

/** A local file as a ByteSource: positioned reads of one open file descriptor (close() releases it). */
export async function fileByteSource(filePath: string): Promise<ByteSource> {
  const handle = await fsp.open(filePath, 'r');
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (error) {
    await handle.close();
    throw error;
  }
  return {
    size,
    async read(start, length, signal) {
      throwIfAborted(signal);
      const available = Math.max(0, Math.min(length, size - start));
      const buffer = Buffer.allocUnsafe(available);
      let filled = 0;
      while (filled < available) {
        const { bytesRead } = await handle.read(buffer, filled, available - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === available ? buffer : buffer.subarray(0, filled);
    },
    close: () => handle.close(),
  };
}

/** What GeoTIFF.fromSource needs of a source (geotiff.js's BaseSource is not exported): the header and IFD reads. */
function geotiffSourceOf(source: ByteSource) {
  const slice = async (offset: number, length: number, signal?: AbortSignal): Promise<ArrayBuffer> => {
    // geotiff.js builds DataViews from offset 0 of what it gets: a buffer of exactly these bytes (Node pools
    // small Buffers inside larger ones).
    return ownArrayBuffer(await readSource(source, offset, length, signal));
  };
  return {
    fetch: (slices: { offset: number; length: number }[], signal?: AbortSignal) =>
      Promise.all(slices.map((s) => slice(s.offset, s.length, signal))),
    get fileSize() {
      return source.size;
    },
    close: async () => undefined, // the WindowedGeoTiff closes the ByteSource
  };
}

interface BlockRef {
  index: number;
  offset: number;
  count: number;
}

/** Blocks sorted by offset, grouped into ranged reads of at most MAX_RANGE_BYTES (a larger block is read alone). */
export function coalesceBlocks(blocks: BlockRef[]): { start: number; end: number; blocks: BlockRef[] }[] {
  const sorted = [...blocks].sort((a, b) => a.offset - b.offset);
  const ranges: { start: number; end: number; blocks: BlockRef[] }[] = [];
  for (const block of sorted) {
    const last = ranges[ranges.length - 1];
    const end = block.offset + block.count;
    // Sorted by offset, so a negative gap is an overlapping or shared block (TIFF allows that): read once.
    if (last && block.offset - last.end <= MAX_RANGE_GAP && Math.max(last.end, end) - last.start <= MAX_RANGE_BYTES) {
      last.end = Math.max(last.end, end);
      last.blocks.push(block);
    } else {
      ranges.push({ start: block.offset, end, blocks: [block] });
    }
  }
  return ranges;
}

/**
 * Opens the first image of the GeoTIFF in `source` for windowed reads (`name` appears in error messages).
 * Throws InvalidGeoTiffError for files that are not readable GeoTIFFs. close() closes the source.
 */
export async function openWindowedGeoTiff(source: ByteSource, name: string): Promise<WindowedGeoTiff> {
  try {
    return await openImage(source, name);
  } catch (error) {
    await source.close?.().catch(() => undefined);
    throw error;
  }
}

async function openImage(source: ByteSource, name: string): Promise<WindowedGeoTiff> {
  if (source.size === 0) throw new InvalidGeoTiffError('the file is empty');
  let tiff: GeoTIFF;
  let image: GeoTIFFImage;
  try {
    tiff = await GeoTIFF.fromSource(geotiffSourceOf(source));
    image = await tiff.getImage(0);
  } catch (error) {
    if (isSourceError(error)) throw error;
    // Say what the file is instead of a TIFF, from its first bytes (read only on this path).
    checkTiffHeaderBytes(Buffer.from(await source.read(0, 16)), source.size);
    throw asInvalid(error, name);
  }
  const described = describeDataType(image);
  if ('reason' in described) throw new InvalidGeoTiffError(described.reason);
  const { dataType } = described;
  const width = image.getWidth();
  const height = image.getHeight();
  const bandCount = image.getSamplesPerPixel();
  const georef = georefOf(image);
  const nodata = parseNodata(georef.gdalNodata);
  const fast = image.littleEndian === HOST_LITTLE_ENDIAN;
  let blocks: BlockDecoder | null = null;
  if (fast) {
    try {
      blocks = await blockDecoderOf(image, dataType, width, height, bandCount);
    } catch (error) {
      throw asInvalid(error, name);
    }
    if (blocks.offsets.length < blocks.blockCount || blocks.counts.length < blocks.blockCount)
      throw new InvalidGeoTiffError(
        `the file lists ${Math.min(blocks.offsets.length, blocks.counts.length)} blocks where its size needs ${blocks.blockCount}`,
      );
  }
  const bytesPerSample = ARRAY_FOR[dataType].BYTES_PER_ELEMENT;

  const readWindow = async (window: PixelWindow, signal?: AbortSignal): Promise<Raster> => {
    const { x, y, w, h } = window;
    if (![x, y, w, h].every(Number.isInteger) || w <= 0 || h <= 0)
      throw new RangeError(`a window needs whole x, y and positive w, h; got ${JSON.stringify(window)}`);
    const x0 = Math.max(0, x);
    const y0 = Math.max(0, y);
    const x1 = Math.min(width, x + w);
    const y1 = Math.min(height, y + h);
    if (x1 <= x0 || y1 <= y0)
      throw new RangeError(`the window ${JSON.stringify(window)} lies outside the ${width} x ${height} image`);
    throwIfAborted(signal);
    let bands: RasterTypedArray[];
    try {
      bands = blocks
        ? await readBlocks(source, blocks, { x0, y0, x1, y1 }, signal)
        : await readSlow(image, [x0, y0, x1, y1], bandCount, signal);
    } catch (error) {
      if (signal?.aborted || isSourceError(error)) throw error;
      throw asInvalid(error, name);
    }
    return { width: x1 - x0, height: y1 - y0, bandCount, dataType, bands, georef, nodata };
  };

  return {
    width,
    height,
    bandCount,
    dataType,
    georef,
    nodata,
    blockWidth: image.getTileWidth(),
    blockHeight: image.getTileHeight(),
    tiled: image.isTiled,
    rowBytes: width * bandCount * bytesPerSample,
    readWindow,
    close: async () => {
      await source.close?.();
    },
  };
}

/** Big-endian files: geotiff.js reads the window's blocks through the same source. */
async function readSlow(
  image: GeoTIFFImage,
  window: [number, number, number, number],
  bandCount: number,
  signal?: AbortSignal,
): Promise<RasterTypedArray[]> {
  const result = (await image.readRasters({ window, interleave: false, signal })) as unknown as RasterTypedArray[];
  return Array.from({ length: bandCount }, (_, i) => result[i]!);
}

async function readBlocks(
  source: ByteSource,
  blocks: BlockDecoder,
  window: { x0: number; y0: number; x1: number; y1: number },
  signal?: AbortSignal,
): Promise<RasterTypedArray[]> {
  const width = window.x1 - window.x0;
  const height = window.y1 - window.y0;
  const bands = Array.from({ length: blocks.bandCount }, () => new blocks.Ctor(width * height));
  const target = { bands, x0: window.x0, y0: window.y0, width, height };
  const tx0 = Math.floor(window.x0 / blocks.blockWidth);
  const tx1 = Math.ceil(window.x1 / blocks.blockWidth);
  const ty0 = Math.floor(window.y0 / blocks.blockHeight);
  const ty1 = Math.ceil(window.y1 / blocks.blockHeight);
  const planes = blocks.planar === 1 ? 1 : blocks.bandCount;
  const wanted: BlockRef[] = [];
  for (let plane = 0; plane < planes; plane++)
    for (let ty = ty0; ty < ty1; ty++)
      for (let tx = tx0; tx < tx1; tx++) {
        const index = blocks.indexOf(plane, tx, ty);
        const offset = Number(blocks.offsets[index] ?? 0);
        const count = Number(blocks.counts[index] ?? 0);
        if (count === 0) continue; // sparse block: stays 0
        if (offset + count > source.size)
          throw new InvalidGeoTiffError(
            `the file is truncated: block ${index} ends at byte ${offset + count} of ${source.size}`,
          );
        wanted.push({ index, offset, count });
      }

  const ranges = coalesceBlocks(wanted);
  // Blocks decode BLOCKS_IN_FLIGHT at once across ranges (as decode.ts does for a whole file); a range is fetched
  // when its first block is due, the next one with it (I/O overlaps decoding), and dropped once decoded.
  const order = ranges.flatMap((range, r) => range.blocks.map((block) => ({ r, block })));
  const fetched = new Map<number, Promise<Uint8Array>>();
  const remaining = ranges.map((range) => range.blocks.length);
  const fetchRange = (r: number): Promise<Uint8Array> => {
    let bytes = fetched.get(r);
    if (!bytes) {
      const range = ranges[r]!;
      bytes = readSource(source, range.start, range.end - range.start, signal).then((read) => {
        if (read.byteLength < range.end - range.start)
          throw new InvalidGeoTiffError(
            `the file is truncated: reading bytes ${range.start}..${range.end} returned ${read.byteLength}`,
          );
        // A plain Uint8Array view: Buffer#slice does not copy, and the decoders take `.slice().buffer` of a block.
        return new Uint8Array(read.buffer, read.byteOffset, read.byteLength);
      });
      bytes.catch(() => undefined); // awaited by its blocks; a prefetch nobody awaits must not go unhandled
      fetched.set(r, bytes);
    }
    return bytes;
  };
  await runLimited(order.length, BLOCKS_IN_FLIGHT, async (i) => {
    const { r, block } = order[i]!;
    throwIfAborted(signal);
    const bytes = await fetchRange(r);
    if (r + 1 < ranges.length && remaining[r + 1]! > 0) void fetchRange(r + 1);
    const at = block.offset - ranges[r]!.start;
    blocks.scatter(block.index, await blocks.decode(bytes.subarray(at, at + block.count)), target);
    if (--remaining[r]! === 0) fetched.delete(r);
  });
  return bands;
}
