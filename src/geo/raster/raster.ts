/**
 * A raster in memory: one typed array per band, with the georeferencing of the file it came from. decode.ts
 * reads one from a GeoTIFF; mask-geotiff.ts and mask-cog.ts write class masks on the same grid.
 */
import type { GeoReference } from './georeference';

export type RasterTypedArray =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;
export type RasterDataType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';

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
