/**
 * GeoTIFF pixels into memory. geotiff.js parses the file; readGeoTiff decodes blocks itself: DEFLATE runs
 * asynchronously on the libuv thread pool (several blocks at once, one output chunk per block), and for integer
 * samples with predictor 1 or 2 the predictor is undone while de-interleaving into per-band arrays, in a single
 * pass. Other compressions and the floating-point predictor go through geotiff's decoders and predictor logic.
 */
import { promises as fsp } from 'node:fs';
import { fromArrayBuffer, type GeoTIFFImage } from 'geotiff';
import { runLimited } from '../concurrency';
import { blockDecoderOf, HOST_LITTLE_ENDIAN } from './block-decode';
import { ownArrayBuffer } from './buffers';
import { BLOCKS_IN_FLIGHT } from './deflate';
import type { GeoReference } from './georeference';
import { describeDataType, georefOf, parseNodata } from './geotiff-image';
import { asInvalid, InvalidGeoTiffError } from './invalid-geotiff';
import type { Raster, RasterDataType, RasterTypedArray } from './raster';

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

/** Decodes every tile/strip (block-decode.ts: fused inflate + predictor + de-interleave) into band arrays. */
async function readBandsFast(
  image: GeoTIFFImage,
  bytes: ArrayBuffer,
  dataType: RasterDataType,
  width: number,
  height: number,
  bandCount: number,
): Promise<RasterTypedArray[]> {
  const blocks = await blockDecoderOf(image, dataType, width, height, bandCount);
  const bands = Array.from({ length: bandCount }, () => new blocks.Ctor(width * height));
  const target = { bands, x0: 0, y0: 0, width, height };
  const file = new Uint8Array(bytes);

  await runLimited(blocks.blockCount, BLOCKS_IN_FLIGHT, async (index) => {
    const offset = Number(blocks.offsets[index] ?? 0);
    const count = Number(blocks.counts[index] ?? 0);
    if (count === 0) return; // sparse block: stays 0
    if (offset + count > file.byteLength)
      throw new InvalidGeoTiffError(
        `the file is truncated: block ${index} ends at byte ${offset + count} of ${file.byteLength}`,
      );
    blocks.scatter(index, await blocks.decode(file.subarray(offset, offset + count)), target);
  });
  return bands;
}
