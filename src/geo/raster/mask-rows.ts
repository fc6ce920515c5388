/**
 * A single-band GeoTIFF (a model's class mask) opened for reading in strips of rows: only the blocks of the
 * rows asked for are decoded, so a whole Sentinel-2 tile's mask (10,980^2) is never held whole.
 */
import { fromFile, type GeoTIFF } from 'geotiff';
import { registerNativeDeflate } from './deflate';
import type { GeoReference } from './georeference';
import { describeDataType, georefOf } from './geotiff-image';
import { asInvalid, InvalidGeoTiffError } from './invalid-geotiff';
import type { RasterDataType } from './raster';

registerNativeDeflate();

export interface MaskRows {
  width: number;
  height: number;
  dataType: RasterDataType;
  georef: GeoReference;
  /** Rows per strip that match the file's blocks (its tile height or rows per strip, at least 256). */
  stripRows: number;
  /** Band 1, rows y0..y1-1, row-major. */
  readRows(y0: number, y1: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export async function openMaskRows(filePath: string, name: string): Promise<MaskRows> {
  let tiff: GeoTIFF;
  try {
    tiff = await fromFile(filePath);
  } catch (error) {
    throw asInvalid(error, name);
  }
  try {
    const image = await tiff.getImage(0);
    const described = describeDataType(image);
    if ('reason' in described) throw new InvalidGeoTiffError(described.reason);
    const width = image.getWidth();
    const height = image.getHeight();
    const blockRows = image.getTileHeight();
    return {
      width,
      height,
      dataType: described.dataType,
      georef: georefOf(image),
      stripRows: Math.max(1, Math.ceil(256 / blockRows)) * blockRows,
      async readRows(y0: number, y1: number): Promise<Uint8Array> {
        const bands = (await image.readRasters({
          window: [0, y0, width, y1],
          samples: [0],
          interleave: false,
        })) as unknown as ArrayLike<number>[];
        const band = bands[0]!;
        return band instanceof Uint8Array ? band : Uint8Array.from(band);
      },
      close: async () => tiff.close(),
    };
  } catch (error) {
    await tiff.close();
    throw asInvalid(error, name);
  }
}
