/** What decode.ts and inspect.ts read from a geotiff.js image besides pixels: data type, nodata, georeferencing. */
import type { GeoTIFFImage } from 'geotiff';
import type { GeoReference } from './georeference';
import type { RasterDataType } from './raster';

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

export function dir(image: GeoTIFFImage): FileDirectory {
  return image.getFileDirectory() as unknown as FileDirectory;
}

function dataTypeOf(sampleFormat: number, bits: number): RasterDataType | null {
  if (sampleFormat === 1) return ({ 8: 'uint8', 16: 'uint16', 32: 'uint32' } as const)[bits as 8 | 16 | 32] ?? null;
  if (sampleFormat === 2) return ({ 8: 'int8', 16: 'int16', 32: 'int32' } as const)[bits as 8 | 16 | 32] ?? null;
  if (sampleFormat === 3) return ({ 32: 'float32', 64: 'float64' } as const)[bits as 32 | 64] ?? null;
  return null;
}

const SAMPLE_FORMAT_NAMES: Record<number, string> = {
  1: 'unsigned integer',
  2: 'signed integer',
  3: 'floating point',
  4: 'undefined',
  5: 'complex integer',
  6: 'complex floating point',
};

/** Data type of an image, or a readable reason why we do not support it. */
export function describeDataType(image: GeoTIFFImage): { dataType: RasterDataType } | { reason: string } {
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

/** GDAL_NODATA as a number (NaN for "nan"), or null when absent or unreadable. */
export function parseNodata(text: string | undefined): number | null {
  if (text === undefined) return null;
  const trimmed = text.replace(/\0/g, '').trim();
  if (trimmed === '') return null;
  if (/^nan$/i.test(trimmed)) return Number.NaN;
  const value = Number(trimmed);
  return Number.isNaN(value) ? null : value;
}

/** The georeferencing tags of an image, as stored. */
export function georefOf(image: GeoTIFFImage): GeoReference {
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
