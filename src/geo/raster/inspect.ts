/** Checks that a file is a GeoTIFF a model can run on, from its headers alone (no pixels decoded). */
import { promises as fsp } from 'node:fs';
import { fromFile, type GeoTIFF, type GeoTIFFImage } from 'geotiff';
import { affineOf, boundsOf, epsgOf } from './georeference';
import { describeDataType, dir, georefOf } from './geotiff-image';
import { asInvalid, InvalidGeoTiffError } from './invalid-geotiff';
import type { RasterDataType } from './raster';

export interface GeoTiffSummary {
  width: number;
  height: number;
  bands: number;
  dtype: RasterDataType;
  epsg: number | null;
  /** [minX, minY, maxX, maxY] in the raster's CRS, or null without georeferencing. */
  bounds: [number, number, number, number] | null;
}

/** Default ceiling for inspectGeoTiff: a little above one Sentinel-2 10 m tile (10980 x 10980). */
export const DEFAULT_MAX_PIXELS = 150_000_000;

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
  /** Say what the file starts with when it is not a TIFF (default true); false for fetched URLs, whose bytes we never echo. */
  quoteContent?: boolean;
}

/** Checks the file starts like a (Big)TIFF, reading 16 bytes; throws InvalidGeoTiffError saying what it is instead. */
export async function checkTiffSignature(filePath: string, quoteContent = true): Promise<{ size: number }> {
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
  checkTiffHeaderBytes(header, stat.size, quoteContent);
  return { size: stat.size };
}

/** The signature check of checkTiffSignature on the first (up to 16) bytes of a file of `size` bytes. */
export function checkTiffHeaderBytes(header: Buffer, size: number, quoteContent = true): void {
  const magic = header.subarray(0, 4).toString('latin1');
  const isTiff = magic === 'II*\0' || magic === 'MM\0*' || magic === 'II+\0' || magic === 'MM\0+';
  if (!isTiff)
    throw new InvalidGeoTiffError(
      quoteContent ? `not a TIFF file (starts with ${describeMagic(header)})` : 'not a TIFF file',
    );
  if (size < 16) throw new InvalidGeoTiffError('the file is truncated (shorter than a TIFF header)');
}

/**
 * Checks that a file is a GeoTIFF we can run a model on, without decoding pixels.
 * Throws InvalidGeoTiffError with a readable reason: empty file, not a TIFF, truncated, zero size,
 * unsupported sample format or compression, more pixels than `maxPixels`.
 */
export async function inspectGeoTiff(filePath: string, options: InspectOptions = {}): Promise<GeoTiffSummary> {
  const stat = await checkTiffSignature(filePath, options.quoteContent ?? true);
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
