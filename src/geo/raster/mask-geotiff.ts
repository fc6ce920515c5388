/**
 * A class mask as a plain tiled GeoTIFF (tiled, deflate, little endian) with the input's georeferencing tags
 * copied verbatim, so GDAL sees the same CRS and transform. Published outputs are COGs (mask-cog.ts); this
 * simpler layout is what the benchmarks and tests compare against.
 */
import { promises as fsp } from 'node:fs';
import type { GeoReference } from './georeference';
import {
  checkMaskSize,
  checkTileSize,
  encodeMaskTiles,
  georeferenceTags,
  ifdByteLength,
  MAX_CLASSIC_TIFF_BYTES,
  maskImageTags,
  setTileOffsets,
  writeIfd,
  writeTiffHeader,
} from './tiff-encoding';

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
