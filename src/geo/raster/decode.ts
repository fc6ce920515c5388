/**
 * GeoTIFF pixels into memory. geotiff.js parses the file; readGeoTiff decodes blocks itself: DEFLATE runs
 * asynchronously on the libuv thread pool (several blocks at once, one output chunk per block), and for integer
 * samples with predictor 1 or 2 the predictor is undone while de-interleaving into per-band arrays, in a single
 * pass. Other compressions and the floating-point predictor go through geotiff's decoders and predictor logic.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as zlib from 'node:zlib';
import { fromArrayBuffer, getDecoder, type GeoTIFFImage } from 'geotiff';
import { runLimited } from '../concurrency';
import { ownArrayBuffer } from './buffers';
import { BLOCKS_IN_FLIGHT, inflateAsync, registerNativeDeflate } from './deflate';
import type { GeoReference } from './georeference';
import { describeDataType, dir, georefOf, parseNodata } from './geotiff-image';
import { asInvalid, InvalidGeoTiffError } from './invalid-geotiff';
import type { Raster, RasterDataType, RasterTypedArray } from './raster';

// The geotiff.js decoders (other layouts, big-endian files) inflate with node:zlib too.
registerNativeDeflate();

const ARRAY_FOR: Record<
  RasterDataType,
  {
    new (length: number): RasterTypedArray;
    new (buffer: ArrayBuffer, offset: number, length: number): RasterTypedArray;
    BYTES_PER_ELEMENT: number;
  }
> = {
  uint8: Uint8Array as never,
  int8: Int8Array as never,
  uint16: Uint16Array as never,
  int16: Int16Array as never,
  uint32: Uint32Array as never,
  int32: Int32Array as never,
  float32: Float32Array as never,
  float64: Float64Array as never,
};

const HOST_LITTLE_ENDIAN = os.endianness() === 'LE';

/**
 * Reads the first image of a GeoTIFF into one typed array per band.
 * Throws InvalidGeoTiffError for files that are not readable GeoTIFFs.
 */
export async function readGeoTiff(filePath: string): Promise<Raster> {
  let bytes: ArrayBuffer;
  try {
    bytes = ownArrayBuffer(await fsp.readFile(filePath));
  } catch (error) {
    throw asInvalid(error, filePath);
  }
  return decodeGeoTiff(bytes, filePath);
}

/** readGeoTiff of a whole GeoTIFF already in memory (`name` appears in error messages). */
export async function decodeGeoTiff(bytes: ArrayBuffer, name: string): Promise<Raster> {
  let image: GeoTIFFImage;
  try {
    image = await (await fromArrayBuffer(bytes)).getImage(0);
  } catch (error) {
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

  let bands: RasterTypedArray[];
  try {
    if (image.littleEndian === HOST_LITTLE_ENDIAN) {
      bands = await readBandsFast(image, bytes, dataType, width, height, bandCount);
    } else {
      const result = (await image.readRasters({ interleave: false })) as unknown as RasterTypedArray[];
      bands = Array.from({ length: bandCount }, (_, i) => result[i]!);
    }
  } catch (error) {
    throw asInvalid(error, name);
  }
  return { width, height, bandCount, dataType, bands, georef, nodata };
}

/** Size and georeferencing of the first image of an in-memory GeoTIFF, without decoding pixels. */
export async function readGeoTiffHeader(
  data: Uint8Array,
): Promise<{ width: number; height: number; georef: GeoReference }> {
  try {
    const image = await (await fromArrayBuffer(ownArrayBuffer(data))).getImage(0);
    return { width: image.getWidth(), height: image.getHeight(), georef: georefOf(image) };
  } catch (error) {
    throw asInvalid(error, 'raster.tif');
  }
}

/** Inflated (or raw) bytes of one block as a standalone, aligned ArrayBuffer. */
async function inflateBlock(compressed: Uint8Array, deflate: boolean, expectedBytes: number): Promise<ArrayBuffer> {
  if (!deflate) return compressed.slice().buffer as ArrayBuffer;
  // One output chunk for the whole block: zlib's default 16 kB chunks cost a thread-pool round trip each.
  const out = await inflateAsync(compressed, { chunkSize: Math.max(zlib.constants.Z_MIN_CHUNK, expectedBytes) });
  return ownArrayBuffer(out);
}

/**
 * Decodes every tile/strip and scatters it into band arrays. DEFLATE or uncompressed blocks with no
 * predictor or horizontal predictor (2) on integer samples take the fused path: inflate on the libuv
 * pool (several blocks at once), then undo the predictor while de-interleaving, in one pass. Every
 * other combination goes through geotiff's decoder for the compression (BaseDecoder.decode, which
 * applies geotiff's predictor logic) followed by the same scatter.
 */
async function readBandsFast(
  image: GeoTIFFImage,
  bytes: ArrayBuffer,
  dataType: RasterDataType,
  width: number,
  height: number,
  bandCount: number,
): Promise<RasterTypedArray[]> {
  const Ctor = ARRAY_FOR[dataType];
  const bands = Array.from({ length: bandCount }, () => new Ctor(width * height));
  const fd = dir(image);
  const tileWidth = image.getTileWidth();
  const tileHeight = image.getTileHeight();
  const tilesAcross = Math.ceil(width / tileWidth);
  const tilesDown = Math.ceil(height / tileHeight);
  const planar = fd.PlanarConfiguration ?? 1;
  const samplesInBlock = planar === 1 ? bandCount : 1;
  const blocksPerPlane = tilesAcross * tilesDown;
  const blockCount = planar === 1 ? blocksPerPlane : blocksPerPlane * bandCount;
  const offsets = (fd.TileOffsets ?? fd.StripOffsets)!;
  const counts = (fd.TileByteCounts ?? fd.StripByteCounts)!;
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
  const file = new Uint8Array(bytes);
  const blockBytes = tileWidth * tileHeight * samplesInBlock * Ctor.BYTES_PER_ELEMENT;

  await runLimited(blockCount, BLOCKS_IN_FLIGHT, async (index) => {
    const plane = planar === 1 ? 0 : Math.floor(index / blocksPerPlane);
    const within = index % blocksPerPlane;
    const tx = within % tilesAcross;
    const ty = Math.floor(within / tilesAcross);
    const offset = Number(offsets[index] ?? 0);
    const count = Number(counts[index] ?? 0);
    if (count === 0) return; // sparse block: stays 0
    if (offset + count > file.byteLength)
      throw new InvalidGeoTiffError(
        `the file is truncated: block ${index} ends at byte ${offset + count} of ${file.byteLength}`,
      );
    const compressed = file.subarray(offset, offset + count);
    const data = fused
      ? await inflateBlock(compressed, compression !== 1, blockBytes)
      : await decoder!.decode(fd, compressed.slice().buffer);
    const block = new Ctor(data, 0, Math.floor(data.byteLength / Ctor.BYTES_PER_ELEMENT)) as RasterTypedArray;
    const x0 = tx * tileWidth;
    const y0 = ty * tileHeight;
    const w = Math.min(tileWidth, width - x0);
    const rows = Math.min(tileHeight, height - y0, Math.floor(block.length / (tileWidth * samplesInBlock)));
    const accumulate = fused && predictor === 2;
    for (let r = 0; r < rows; r++) {
      const rowStart = r * tileWidth * samplesInBlock;
      const dstRow = (y0 + r) * width + x0;
      for (let s = 0; s < samplesInBlock; s++) {
        const band = bands[planar === 1 ? s : plane]!;
        let src = rowStart + s;
        if (accumulate) {
          // Horizontal differencing: each sample adds to the one samplesInBlock before it, modulo the sample size.
          let running = 0;
          for (let c = 0; c < w; c++) {
            running = (running + (block[src]! & mask)) & mask;
            band[dstRow + c] = running;
            src += samplesInBlock;
          }
        } else if (samplesInBlock === 1) {
          band.set(block.subarray(src, src + w), dstRow);
        } else {
          for (let c = 0; c < w; c++) {
            band[dstRow + c] = block[src]!;
            src += samplesInBlock;
          }
        }
      }
    }
  });
  return bands;
}
