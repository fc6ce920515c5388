/**
 * GeoTIFF input and output for the inference activities.
 *
 * Reading goes through geotiff.js for parsing, with two speed-ups over its defaults:
 * - A DEFLATE decoder backed by Node's native zlib replaces pako for every geotiff.js read (it is
 *   registered with addDecoder; geotiff's BaseDecoder.decode still applies the TIFF predictor).
 * - readGeoTiff decodes blocks itself: DEFLATE runs asynchronously on the libuv thread pool (several
 *   blocks at once, one output chunk per block), and for integer samples with predictor 1 or 2 the
 *   predictor is undone while de-interleaving into per-band arrays, in a single pass. Other
 *   compressions and the floating-point predictor go through geotiff's decoders and predictor logic.
 * Writing is a small TIFF encoder of our own (tiled, deflate, little endian) that copies the input's
 * georeferencing tags verbatim, so GDAL sees the same CRS and transform; mask-cog.ts writes Cloud-Optimized
 * GeoTIFFs with the same building blocks.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import {
  addDecoder,
  BaseDecoder,
  fromArrayBuffer,
  fromFile,
  getDecoder,
  type GeoTIFF,
  type GeoTIFFImage,
} from 'geotiff';
import { runLimited } from '../concurrency';

const inflateAsync = promisify(zlib.inflate);
const deflateAsync = promisify(zlib.deflate);

export type RasterTypedArray =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;
export type RasterDataType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';

/** What is needed to write another raster on the same grid (raw TIFF tag values, as in the input). */
export interface GeoReference {
  /** ModelPixelScaleTag (33550): [scaleX, scaleY, scaleZ]. */
  modelPixelScale?: number[];
  /** ModelTiepointTag (33922): [i, j, k, x, y, z, ...]. */
  modelTiepoint?: number[];
  /** ModelTransformationTag (34264): 4x4 row-major matrix. */
  modelTransformation?: number[];
  /** GeoKeyDirectoryTag (34735), raw. */
  geoKeyDirectory?: number[];
  /** GeoDoubleParamsTag (34736), raw. */
  geoDoubleParams?: number[];
  /** GeoAsciiParamsTag (34737), raw. */
  geoAsciiParams?: string;
  /** All GeoKeys by name as parsed by geotiff.js (e.g. ProjectedCSTypeGeoKey, GeographicTypeGeoKey). */
  geoKeys: Record<string, unknown>;
  /** GDAL_NODATA tag (42113) as written in the file, if any. */
  gdalNodata?: string;
}

export interface Raster {
  width: number;
  height: number;
  bandCount: number;
  dataType: RasterDataType;
  /** One array per band, row-major, width * height values. */
  bands: RasterTypedArray[];
  georef: GeoReference;
  /** Parsed GDAL_NODATA, or null. */
  nodata: number | null;
}

export interface GeoTiffSummary {
  width: number;
  height: number;
  bands: number;
  dtype: RasterDataType;
  epsg: number | null;
  /** [minX, minY, maxX, maxY] in the raster's CRS, or null without georeferencing. */
  bounds: [number, number, number, number] | null;
}

/** The file cannot be used as a GeoTIFF input; `message` says why in words a user understands. */
export class InvalidGeoTiffError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidGeoTiffError';
  }
}

/** Default ceiling for inspectGeoTiff: a little above one Sentinel-2 10 m tile (10980 x 10980). */
export const DEFAULT_MAX_PIXELS = 150_000_000;

// ---------------------------------------------------------------------------------------------
// Native deflate decoder
// ---------------------------------------------------------------------------------------------

/** DEFLATE via node:zlib; BaseDecoder.decode() runs geotiff's predictor on what decodeBlock returns. */
class NativeDeflateDecoder extends BaseDecoder {
  async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    // Large output chunks: zlib's default 16 kB chunks cost a thread-pool round trip each.
    const chunkSize = Math.min(8 << 20, Math.max(zlib.constants.Z_MIN_CHUNK, buffer.byteLength * 4));
    const out = await inflateAsync(new Uint8Array(buffer), { chunkSize });
    // The predictor builds typed-array views from offset 0 of the returned buffer: hand back an
    // ArrayBuffer that holds exactly the inflated bytes.
    return ownArrayBuffer(out);
  }
}

let decoderRegistered = false;
/** Registers the native DEFLATE decoder for compression codes 8 and 32946 (idempotent, process-wide). */
export function registerNativeDeflate(): void {
  if (decoderRegistered) return;
  addDecoder([8, 32946], () => NativeDeflateDecoder);
  decoderRegistered = true;
}
registerNativeDeflate();

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

interface FileDirectory {
  ImageWidth: number;
  ImageLength: number;
  BitsPerSample?: number[] | Uint16Array;
  SampleFormat?: number[] | Uint16Array;
  SamplesPerPixel?: number;
  PlanarConfiguration?: number;
  Compression?: number;
  TileWidth?: number;
  TileLength?: number;
  TileOffsets?: ArrayLike<number>;
  TileByteCounts?: ArrayLike<number>;
  StripOffsets?: ArrayLike<number>;
  StripByteCounts?: ArrayLike<number>;
  RowsPerStrip?: number;
  ModelPixelScale?: ArrayLike<number>;
  ModelTiepoint?: ArrayLike<number>;
  ModelTransformation?: ArrayLike<number>;
  GeoKeyDirectory?: ArrayLike<number>;
  GeoDoubleParams?: ArrayLike<number>;
  GeoAsciiParams?: string;
  GDAL_NODATA?: string;
}

function dir(image: GeoTIFFImage): FileDirectory {
  return image.getFileDirectory() as unknown as FileDirectory;
}

function dataTypeOf(sampleFormat: number, bits: number): RasterDataType | null {
  if (sampleFormat === 1) return ({ 8: 'uint8', 16: 'uint16', 32: 'uint32' } as const)[bits as 8 | 16 | 32] ?? null;
  if (sampleFormat === 2) return ({ 8: 'int8', 16: 'int16', 32: 'int32' } as const)[bits as 8 | 16 | 32] ?? null;
  if (sampleFormat === 3) return ({ 32: 'float32', 64: 'float64' } as const)[bits as 32 | 64] ?? null;
  return null;
}

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

const SAMPLE_FORMAT_NAMES: Record<number, string> = {
  1: 'unsigned integer',
  2: 'signed integer',
  3: 'floating point',
  4: 'undefined',
  5: 'complex integer',
  6: 'complex floating point',
};

/** Data type of an image, or a readable reason why we do not support it. */
function describeDataType(image: GeoTIFFImage): { dataType: RasterDataType } | { reason: string } {
  const fd = dir(image);
  const bits = Array.from(fd.BitsPerSample ?? [1]);
  const formats = Array.from(fd.SampleFormat ?? [1]);
  const format = formats[0] ?? 1;
  if (bits.some((b) => b !== bits[0]) || formats.some((f) => f !== format)) {
    return {
      reason: `bands with different sample types (${bits.join('/')} bits, formats ${formats.join('/')}) are not supported`,
    };
  }
  const dataType = dataTypeOf(format, bits[0] ?? 0);
  if (!dataType) {
    return { reason: `unsupported sample format: ${bits[0]}-bit ${SAMPLE_FORMAT_NAMES[format] ?? `format ${format}`}` };
  }
  return { dataType };
}

function toNumbers(value: ArrayLike<number> | undefined): number[] | undefined {
  return value === undefined ? undefined : Array.from(value);
}

function parseNodata(text: string | undefined): number | null {
  if (text === undefined) return null;
  const trimmed = text.replace(/\0/g, '').trim();
  if (trimmed === '') return null;
  if (/^nan$/i.test(trimmed)) return Number.NaN;
  const value = Number(trimmed);
  return Number.isNaN(value) ? null : value;
}

function georefOf(image: GeoTIFFImage): GeoReference {
  const fd = dir(image);
  return {
    modelPixelScale: toNumbers(fd.ModelPixelScale),
    modelTiepoint: toNumbers(fd.ModelTiepoint),
    modelTransformation: toNumbers(fd.ModelTransformation),
    geoKeyDirectory: toNumbers(fd.GeoKeyDirectory),
    geoDoubleParams: toNumbers(fd.GeoDoubleParams),
    geoAsciiParams: stripNul(fd.GeoAsciiParams),
    geoKeys: { ...((image.getGeoKeys() as Record<string, unknown> | null) ?? {}) },
    gdalNodata: stripNul(fd.GDAL_NODATA),
  };
}

/** geotiff.js keeps the terminating NUL of ASCII tags; the writer adds its own. */
function stripNul(text: string | undefined): string | undefined {
  return text === undefined ? undefined : text.replace(/\0+$/, '');
}

/** EPSG code of the raster's CRS (ProjectedCSTypeGeoKey, else GeographicTypeGeoKey), or null (unknown / user-defined). */
export function epsgOf(georef: GeoReference): number | null {
  for (const key of ['ProjectedCSTypeGeoKey', 'GeographicTypeGeoKey']) {
    const value = georef.geoKeys[key];
    if (typeof value === 'number' && value > 0 && value !== 32767) return value;
  }
  return null;
}

/**
 * GDAL-style affine transform [a, b, c, d, e, f]: x = a*col + b*row + c, y = d*col + e*row + f
 * for pixel corner coordinates (rasterio's Affine order), or null without georeferencing.
 * A ModelTiepoint with PixelIsPoint raster type is shifted by half a pixel, as GDAL does.
 */
export function affineOf(georef: GeoReference): [number, number, number, number, number, number] | null {
  const m = georef.modelTransformation;
  let affine: [number, number, number, number, number, number] | null = null;
  if (m && m.length >= 16) {
    affine = [m[0]!, m[1]!, m[3]!, m[4]!, m[5]!, m[7]!];
  } else if (georef.modelPixelScale && georef.modelTiepoint && georef.modelTiepoint.length >= 6) {
    const [sx, sy] = georef.modelPixelScale as [number, number];
    const [i, j, , x, y] = georef.modelTiepoint as [number, number, number, number, number];
    affine = [sx, 0, x - i * sx, 0, -sy, y + j * sy];
  }
  if (affine && georef.geoKeys.GTRasterTypeGeoKey === 2) {
    // PixelIsPoint: the tie point is the centre of the pixel.
    affine = [
      affine[0],
      affine[1],
      affine[2] - 0.5 * (affine[0] + affine[1]),
      affine[3],
      affine[4],
      affine[5] - 0.5 * (affine[3] + affine[4]),
    ];
  }
  return affine;
}

/** Bounds [minX, minY, maxX, maxY] of a width x height grid under an affine transform. */
export function boundsOf(affine: readonly number[], width: number, height: number): [number, number, number, number] {
  const [a, b, c, d, e, f] = affine as [number, number, number, number, number, number];
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [col, row] of [
    [0, 0],
    [width, 0],
    [0, height],
    [width, height],
  ] as const) {
    xs.push(a * col + b * row + c);
    ys.push(d * col + e * row + f);
  }
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

const HOST_LITTLE_ENDIAN = os.endianness() === 'LE';

/** The bytes of a Buffer or Uint8Array as an ArrayBuffer of their own (Node pools small buffers inside larger ones). */
export function ownArrayBuffer(data: Uint8Array): ArrayBuffer {
  return (
    data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
      ? data.buffer
      : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)
  ) as ArrayBuffer;
}

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

const IN_FLIGHT = Math.max(4, 2 * Number(process.env.UV_THREADPOOL_SIZE ?? 4));

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

  await runLimited(blockCount, IN_FLIGHT, async (index) => {
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

/** A parse error of geotiff.js as an InvalidGeoTiffError with a readable reason (I/O errors pass through). */
export function asInvalid(error: unknown, filePath: string): Error {
  if (error instanceof InvalidGeoTiffError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') return error as Error;
  const message = (error as Error)?.message ?? String(error);
  if (/invalid (tiff|magic)|not a tiff/i.test(message)) return new InvalidGeoTiffError('not a TIFF file');
  if (/out of bounds|offset is outside|RangeError|beyond/i.test(message) || error instanceof RangeError) {
    return new InvalidGeoTiffError(`the file is truncated or corrupt (${message})`);
  }
  return new InvalidGeoTiffError(`cannot parse ${filePath.split(/[\\/]/).pop()}: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Inspection
// ---------------------------------------------------------------------------------------------

const SUPPORTED_COMPRESSION = new Set([1, 5, 7, 8, 32773, 32946, 34887]);
const COMPRESSION_NAMES: Record<number, string> = {
  6: 'old-style JPEG',
  34712: 'JPEG 2000',
  50000: 'ZSTD',
  50001: 'WEBP',
  50002: 'JPEG XL',
  34925: 'LZMA',
};

export interface InspectOptions {
  /** Largest accepted width * height; default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
}

/** Checks the file starts like a (Big)TIFF, reading 16 bytes; throws InvalidGeoTiffError saying what it is instead. */
export async function checkTiffSignature(filePath: string): Promise<{ size: number }> {
  const stat = await fsp.stat(filePath);
  if (!stat.isFile()) throw new InvalidGeoTiffError('not a regular file');
  if (stat.size === 0) throw new InvalidGeoTiffError('the file is empty');
  const header = Buffer.alloc(16);
  const handle = await fsp.open(filePath, 'r');
  try {
    await handle.read(header, 0, 16, 0);
  } finally {
    await handle.close();
  }
  checkTiffHeaderBytes(header, stat.size);
  return { size: stat.size };
}

/** The signature check of checkTiffSignature on the first (up to 16) bytes of a file of `size` bytes. */
export function checkTiffHeaderBytes(header: Buffer, size: number): void {
  const magic = header.subarray(0, 4).toString('latin1');
  const isTiff = magic === 'II*\0' || magic === 'MM\0*' || magic === 'II+\0' || magic === 'MM\0+';
  if (!isTiff) throw new InvalidGeoTiffError(`not a TIFF file (starts with ${describeMagic(header)})`);
  if (size < 16) throw new InvalidGeoTiffError('the file is truncated (shorter than a TIFF header)');
}

/**
 * Checks that a file is a GeoTIFF we can run a model on, without decoding pixels.
 * Throws InvalidGeoTiffError with a readable reason: empty file, not a TIFF, truncated, zero size,
 * unsupported sample format or compression, more pixels than `maxPixels`.
 */
export async function inspectGeoTiff(filePath: string, options: InspectOptions = {}): Promise<GeoTiffSummary> {
  const stat = await checkTiffSignature(filePath);
  let tiff: GeoTIFF | undefined;
  try {
    tiff = await fromFile(filePath).catch((error: unknown) => {
      throw asInvalid(error, filePath);
    });
    return await inspectOpenedGeoTiff(tiff, stat.size, filePath, options);
  } finally {
    // fromFile keeps the file open until closed.
    await tiff?.close();
  }
}

/** inspectGeoTiff's checks on an opened GeoTIFF (a local file or ranged reads of a stored one) of `size` bytes. */
export async function inspectOpenedGeoTiff(
  tiff: GeoTIFF,
  size: number,
  name: string,
  options: InspectOptions = {},
): Promise<GeoTiffSummary> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  let image: GeoTIFFImage;
  try {
    image = await tiff.getImage(0);
  } catch (error) {
    throw asInvalid(error, name);
  }
  const fd = dir(image);
  const width = fd.ImageWidth;
  const height = fd.ImageLength;
  if (!width || !height) throw new InvalidGeoTiffError(`the image has zero size (${width ?? 0} x ${height ?? 0})`);
  const described = describeDataType(image);
  if ('reason' in described) throw new InvalidGeoTiffError(described.reason);
  const compression = fd.Compression ?? 1;
  if (!SUPPORTED_COMPRESSION.has(compression)) {
    throw new InvalidGeoTiffError(
      `unsupported compression: ${COMPRESSION_NAMES[compression] ?? `code ${compression}`}`,
    );
  }
  if (width * height > maxPixels) {
    throw new InvalidGeoTiffError(
      `the image is too large: ${width} x ${height} = ${width * height} pixels, the limit is ${maxPixels}`,
    );
  }
  const offsets = fd.TileOffsets ?? fd.StripOffsets;
  const counts = fd.TileByteCounts ?? fd.StripByteCounts;
  if (!offsets || !counts) throw new InvalidGeoTiffError('the image has no tile or strip offsets');
  for (let i = 0; i < offsets.length; i++) {
    const end = Number(offsets[i]) + Number(counts[i] ?? 0);
    if (end > size) {
      throw new InvalidGeoTiffError(
        `the file is truncated: image data runs to byte ${end} but the file has ${size} bytes`,
      );
    }
  }
  const georef = georefOf(image);
  const affine = affineOf(georef);
  return {
    width,
    height,
    bands: image.getSamplesPerPixel(),
    dtype: described.dataType,
    epsg: epsgOf(georef),
    bounds: affine ? boundsOf(affine, width, height) : null,
  };
}

function describeMagic(header: Buffer): string {
  const text = header.subarray(0, 8).toString('latin1');
  if (text.startsWith('%PDF')) return '"%PDF", a PDF document';
  if (text.startsWith('\x89PNG')) return 'the PNG signature';
  if (header[0] === 0xff && header[1] === 0xd8) return 'the JPEG signature';
  if (text.startsWith('PK')) return '"PK", a ZIP archive';
  if (/^[\x20-\x7e]{4}/.test(text)) return `"${text.slice(0, 4)}"`;
  return `bytes ${header.subarray(0, 4).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

export interface WriteMaskOptions {
  /** Value written to GDAL_NODATA; omit for none. */
  nodata?: number;
  /** 'deflate' (default) or 'none'. */
  compression?: 'deflate' | 'none';
  /** Square tile size, a multiple of 16 (default 256). */
  tileSize?: number;
  /** zlib level 1-9 (default 6, like GDAL). */
  deflateLevel?: number;
}

/**
 * Writes a single-band uint8 GeoTIFF (tiled, DEFLATE by default, little endian) on the grid of `georef`:
 * the input's ModelPixelScale / ModelTiepoint / ModelTransformation and GeoKey tags are copied verbatim.
 * For a Cloud-Optimized GeoTIFF (overviews, GDAL's COG layout) see writeMaskCog in mask-cog.ts.
 */
export async function writeMaskGeoTiff(
  filePath: string,
  mask: Uint8Array,
  width: number,
  height: number,
  georef: GeoReference,
  options: WriteMaskOptions = {},
): Promise<void> {
  checkMaskSize(mask, width, height);
  const tileSize = options.tileSize ?? 256;
  checkTileSize(tileSize);
  const compress = (options.compression ?? 'deflate') === 'deflate';
  const tiles = await encodeMaskTiles(
    { pixels: mask, width, height },
    tileSize,
    compress ? { deflateLevel: options.deflateLevel ?? 6 } : null,
  );
  const tags = [
    ...maskImageTags(width, height, tileSize, compress, tiles, options.nodata),
    ...georeferenceTags(georef),
  ];

  // Layout: header (8) | IFD and its values | tile data.
  const dataStart = 8 + ifdByteLength(tags);
  setTileOffsets(tags, tiles, dataStart, 0);
  if (dataStart + tiles.reduce((sum, tile) => sum + tile.byteLength, 0) > MAX_CLASSIC_TIFF_BYTES)
    throw new Error('mask too large for a classic TIFF');
  const head = Buffer.alloc(dataStart);
  writeTiffHeader(head, 8);
  writeIfd(head, 8, tags, 0);

  const fd = await fsp.open(filePath, 'w');
  try {
    await fd.writev([head, ...tiles]);
  } finally {
    await fd.close();
  }
}

// ---------------------------------------------------------------------------------------------
// TIFF encoding building blocks, shared by writeMaskGeoTiff and writeMaskCog (mask-cog.ts)
// ---------------------------------------------------------------------------------------------

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
  await runLimited(encoded.length, IN_FLIGHT, async (index) => {
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
  tiles: readonly Uint8Array[],
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
export function setTileOffsets(
  tags: TiffTag[],
  tiles: readonly Uint8Array[],
  firstTileAt: number,
  gap: number,
): number {
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
