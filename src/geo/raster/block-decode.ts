/**
 * Decoding of single GeoTIFF blocks (tiles or strips), shared by decode.ts (whole images) and
 * windowed-geotiff.ts (windows read by ranged reads). DEFLATE or uncompressed blocks with no predictor or the
 * horizontal predictor (2) on integer samples take the fused path: inflate on the libuv pool, then undo the
 * predictor while de-interleaving, in one pass. Every other combination goes through geotiff's decoder for the
 * compression (BaseDecoder.decode, which applies geotiff's predictor logic) followed by the same scatter.
 */
import * as os from 'node:os';
import * as zlib from 'node:zlib';
import { getDecoder, type GeoTIFFImage } from 'geotiff';
import { ownArrayBuffer } from './buffers';
import { inflateAsync, registerNativeDeflate } from './deflate';
import { dir } from './geotiff-image';
import { InvalidGeoTiffError } from './invalid-geotiff';
import type { RasterDataType, RasterTypedArray } from './raster';

// The geotiff.js decoders (other layouts, big-endian files) inflate with node:zlib too.
registerNativeDeflate();

/** Our fused decoding reads samples in host byte order; other files go through geotiff.js's readRasters. */
export const HOST_LITTLE_ENDIAN = os.endianness() === 'LE';

export type RasterArrayConstructor = {
  new (length: number): RasterTypedArray;
  new (buffer: ArrayBuffer, offset: number, length: number): RasterTypedArray;
  BYTES_PER_ELEMENT: number;
};

export const ARRAY_FOR: Record<RasterDataType, RasterArrayConstructor> = {
  uint8: Uint8Array as never,
  int8: Int8Array as never,
  uint16: Uint16Array as never,
  int16: Int16Array as never,
  uint32: Uint32Array as never,
  int32: Int32Array as never,
  float32: Float32Array as never,
  float64: Float64Array as never,
};

/** Where decoded blocks land: one array per band of `width` x `height` values, whose pixel (0, 0) is (x0, y0) of the image. */
export interface BlockTarget {
  bands: RasterTypedArray[];
  x0: number;
  y0: number;
  width: number;
  height: number;
}

/** The block grid of the first image and how to decode one of its blocks. */
export interface BlockDecoder {
  width: number;
  height: number;
  bandCount: number;
  dataType: RasterDataType;
  Ctor: RasterArrayConstructor;
  blockWidth: number;
  blockHeight: number;
  blocksAcross: number;
  blocksDown: number;
  /** 1: pixel-interleaved (one block holds every band), 2: band-interleaved (one plane of blocks per band). */
  planar: number;
  blocksPerPlane: number;
  blockCount: number;
  offsets: ArrayLike<number | bigint>;
  counts: ArrayLike<number | bigint>;
  /** Index of the block at block column tx, block row ty of `plane`. */
  indexOf(plane: number, tx: number, ty: number): number;
  /** Decompressed samples of one block (for the fused path the predictor is still to be undone by scatter). */
  decode(compressed: Uint8Array): Promise<RasterTypedArray>;
  /** Writes the part of block `index` (decoded by decode()) that falls inside `target`. */
  scatter(index: number, block: RasterTypedArray, target: BlockTarget): void;
}

/** Inflated (or raw) bytes of one block as a standalone, aligned ArrayBuffer. */
async function inflateBlock(compressed: Uint8Array, deflate: boolean, expectedBytes: number): Promise<ArrayBuffer> {
  if (!deflate) return compressed.slice().buffer as ArrayBuffer;
  // One output chunk for the whole block: zlib's default 16 kB chunks cost a thread-pool round trip each.
  const out = await inflateAsync(compressed, { chunkSize: Math.max(zlib.constants.Z_MIN_CHUNK, expectedBytes) });
  return ownArrayBuffer(out);
}

/**
 * The block decoder of a host-endian image. Throws InvalidGeoTiffError when the block offsets/byte counts
 * are missing or do not match the block grid.
 */
export async function blockDecoderOf(
  image: GeoTIFFImage,
  dataType: RasterDataType,
  width: number,
  height: number,
  bandCount: number,
): Promise<BlockDecoder> {
  const Ctor = ARRAY_FOR[dataType];
  const fd = dir(image);
  const blockWidth = image.getTileWidth();
  const blockHeight = image.getTileHeight();
  if (!(blockWidth > 0) || !(blockHeight > 0))
    throw new InvalidGeoTiffError(`invalid block size ${blockWidth} x ${blockHeight}`);
  const blocksAcross = Math.ceil(width / blockWidth);
  const blocksDown = Math.ceil(height / blockHeight);
  const planar = fd.PlanarConfiguration ?? 1;
  const samplesInBlock = planar === 1 ? bandCount : 1;
  const blocksPerPlane = blocksAcross * blocksDown;
  const blockCount = planar === 1 ? blocksPerPlane : blocksPerPlane * bandCount;
  const offsets = (fd.TileOffsets ?? fd.StripOffsets) as ArrayLike<number | bigint> | undefined;
  const counts = (fd.TileByteCounts ?? fd.StripByteCounts) as ArrayLike<number | bigint> | undefined;
  if (!offsets || !counts) throw new InvalidGeoTiffError('the file has no tile or strip offsets');
  const compression = fd.Compression ?? 1;
  const predictor = (fd as { Predictor?: number }).Predictor ?? 1;
  const integer = dataType !== 'float32' && dataType !== 'float64';
  const fused =
    (compression === 1 || compression === 8 || compression === 32946) &&
    (predictor === 1 || (predictor === 2 && integer));
  const decoder = fused
    ? null
    : ((await getDecoder(fd)) as { decode(fd: unknown, buffer: ArrayBuffer): Promise<ArrayBuffer> });
  const mask =
    dataType === 'uint8' || dataType === 'int8'
      ? 0xff
      : dataType === 'uint16' || dataType === 'int16'
        ? 0xffff
        : 0xffffffff;
  const blockBytes = blockWidth * blockHeight * samplesInBlock * Ctor.BYTES_PER_ELEMENT;
  const accumulate = fused && predictor === 2;

  return {
    width,
    height,
    bandCount,
    dataType,
    Ctor,
    blockWidth,
    blockHeight,
    blocksAcross,
    blocksDown,
    planar,
    blocksPerPlane,
    blockCount,
    offsets,
    counts,
    indexOf: (plane, tx, ty) => plane * blocksPerPlane + ty * blocksAcross + tx,
    async decode(compressed) {
      const data = fused
        ? await inflateBlock(compressed, compression !== 1, blockBytes)
        : await decoder!.decode(fd, compressed.slice().buffer);
      return new Ctor(data, 0, Math.floor(data.byteLength / Ctor.BYTES_PER_ELEMENT));
    },
    scatter(index, block, target) {
      const plane = planar === 1 ? 0 : Math.floor(index / blocksPerPlane);
      const within = index % blocksPerPlane;
      const bx = (within % blocksAcross) * blockWidth;
      const by = Math.floor(within / blocksAcross) * blockHeight;
      // The block's columns and rows (relative to the block) that fall inside both the image and the target.
      const c0 = Math.max(0, target.x0 - bx);
      const c1 = Math.min(blockWidth, width - bx, target.x0 + target.width - bx);
      const storedRows = Math.floor(block.length / (blockWidth * samplesInBlock));
      const r0 = Math.max(0, target.y0 - by);
      const r1 = Math.min(blockHeight, height - by, storedRows, target.y0 + target.height - by);
      if (c1 <= c0 || r1 <= r0) return;
      const w = c1 - c0;
      for (let r = r0; r < r1; r++) {
        const rowStart = r * blockWidth * samplesInBlock;
        const dstRow = (by + r - target.y0) * target.width + (bx + c0 - target.x0);
        for (let s = 0; s < samplesInBlock; s++) {
          const band = target.bands[planar === 1 ? s : plane]!;
          if (accumulate) {
            // Horizontal differencing: each sample adds to the one samplesInBlock before it, modulo the sample
            // size, from the block's first column on (also when the target starts further right).
            let src = rowStart + s;
            let running = 0;
            for (let c = 0; c < c0; c++) {
              running = (running + (block[src]! & mask)) & mask;
              src += samplesInBlock;
            }
            let dst = dstRow;
            for (let c = c0; c < c1; c++) {
              running = (running + (block[src]! & mask)) & mask;
              band[dst++] = running;
              src += samplesInBlock;
            }
          } else if (samplesInBlock === 1) {
            const src = rowStart + c0;
            band.set(block.subarray(src, src + w), dstRow);
          } else {
            let src = rowStart + c0 * samplesInBlock + s;
            let dst = dstRow;
            for (let c = c0; c < c1; c++) {
              band[dst++] = block[src]!;
              src += samplesInBlock;
            }
          }
        }
      }
    },
  };
}
