/**
 * Class masks written directly as Cloud-Optimized GeoTIFFs, in-process, the way GDAL's COG driver writes
 * them (`gdal_translate -of COG -co COMPRESS=DEFLATE -co PREDICTOR=NO -co BLOCKSIZE=256
 * -co OVERVIEW_RESAMPLING=NEAREST`), without spawning GDAL:
 * - tiled, DEFLATE, the input's georeferencing copied (see tiff-encoding.ts), GDAL_NODATA on every image;
 * - overviews by factors 2, 4, 8, ... until one fits in a single block, with GDAL's sizes and GDAL's
 *   nearest-neighbour source pixels (see overviewLevels), tagged NewSubfileType = reduced resolution;
 * - GDAL's COG layout: the structural metadata block after the header, all IFDs (full resolution first)
 *   before any pixel data, tile data from the smallest overview to full resolution, row-major, each tile
 *   framed by a 4-byte size leader and a trailer repeating its last 4 bytes, as the metadata declares.
 * Checked against gdal_translate with gdalinfo, rasterio and GDAL's validate_cloud_optimized_geotiff
 * in test/integration/cog.spec.ts.
 */
import { promises as fsp } from 'node:fs';
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
  type MaskImage,
  type TiffTag,
  type TileSize,
} from './tiff-encoding';
import type { GeoReference } from './georeference';

export interface WriteMaskCogOptions {
  /** GDAL_NODATA, an integer 0-255 (the mask is uint8). */
  nodata: number;
  /** Square tile size, a multiple of 16; also the size under which no further overview is made. Default 256. */
  blockSize?: number;
  /** zlib level 1-9. Default 6, GDAL's. */
  deflateLevel?: number;
}

/**
 * GDAL's hidden structural metadata ("ghost area"). LAYOUT=COG in gdalinfo needs every line: GDAL reports
 * it only when the block leader and trailer are declared, and we write both. The final space is GDAL's
 * spare byte for turning KNOWN_INCOMPATIBLE_EDITION=NO into YES in place; we keep it for the same size.
 */
const STRUCTURAL_METADATA =
  'LAYOUT=IFDS_BEFORE_DATA\n' +
  'BLOCK_ORDER=ROW_MAJOR\n' +
  'BLOCK_LEADER=SIZE_AS_UINT4\n' +
  'BLOCK_TRAILER=LAST_4_BYTES_REPEATED\n' +
  'KNOWN_INCOMPATIBLE_EDITION=NO\n ';
const LEADER_BYTES = 4;
const TRAILER_BYTES = 4;
const NEW_SUBFILE_TYPE = 254;
const REDUCED_RESOLUTION = 1;

/**
 * Writes `mask` (width x height uint8, row-major) as a Cloud-Optimized GeoTIFF on the grid of `georef`.
 * Throws before writing anything if the file would need BigTIFF (> 4 GiB).
 */
export async function writeMaskCog(
  filePath: string,
  mask: Uint8Array,
  width: number,
  height: number,
  georef: GeoReference,
  options: WriteMaskCogOptions,
): Promise<void> {
  const parts = await encodeMaskCog(mask, width, height, georef, options);
  const fd = await fsp.open(filePath, 'w');
  try {
    await fd.writev(parts);
  } finally {
    await fd.close();
  }
}

/** The bytes of writeMaskCog's file, in order (join them, or upload them, without a file). */
export async function encodeMaskCog(
  mask: Uint8Array,
  width: number,
  height: number,
  georef: GeoReference,
  options: WriteMaskCogOptions,
): Promise<Uint8Array[]> {
  checkMaskSize(mask, width, height);
  const { blockSize, nodata, deflateLevel } = resolveMaskCogOptions(options);

  // Full resolution first, then overviews by decreasing size: the IFD order. Compressing all levels'
  // tiles at once keeps the thread pool busy across levels.
  const images = [{ pixels: mask, width, height }, ...overviewLevels({ pixels: mask, width, height }, blockSize)];
  const tilesPerImage = await Promise.all(images.map((image) => encodeMaskTiles(image, blockSize, { deflateLevel })));
  const { head } = maskCogHead(
    images.map((image, index) => ({ width: image.width, height: image.height, tiles: tilesPerImage[index]! })),
    georef,
    blockSize,
    nodata,
  );

  const parts: Uint8Array[] = [head];
  for (let index = images.length - 1; index >= 0; index--) {
    for (const tile of tilesPerImage[index]!) parts.push(...framedTile(tile));
  }
  return parts;
}

/** The options of writeMaskCog with their defaults, validated (throws on a bad one). */
export function resolveMaskCogOptions(options: WriteMaskCogOptions): Required<WriteMaskCogOptions> {
  const blockSize = options.blockSize ?? 256;
  checkTileSize(blockSize);
  const { nodata } = options;
  if (!Number.isInteger(nodata) || nodata < 0 || nodata > 255)
    throw new Error(`nodata must be an integer 0-255 for a uint8 mask, got ${nodata}`);
  const deflateLevel = options.deflateLevel ?? 6;
  if (!Number.isInteger(deflateLevel) || deflateLevel < 1 || deflateLevel > 9)
    throw new Error(`deflateLevel must be 1-9, got ${deflateLevel}`);
  return { blockSize, nodata, deflateLevel };
}

/** One image of the COG (full resolution or an overview) by its size and its encoded tiles' sizes, row-major. */
export interface MaskCogImage {
  width: number;
  height: number;
  tiles: readonly TileSize[];
}

/**
 * Everything before the first tile (header, structural metadata, all IFDs with their values) for `images`
 * (full resolution first, then the overviews by decreasing size), the tiles laid out after it from the
 * smallest overview to full resolution, each framed (framedTile). `fileBytes`: the whole file's size.
 * Throws if the file would need BigTIFF (> 4 GiB).
 */
export function maskCogHead(
  images: readonly MaskCogImage[],
  georef: GeoReference,
  blockSize: number,
  nodata: number,
): { head: Buffer; fileBytes: number } {
  const tagsPerImage: TiffTag[][] = images.map((image, index) => {
    const tags = maskImageTags(image.width, image.height, blockSize, true, image.tiles, nodata);
    if (index === 0) return [...tags, ...georeferenceTags(georef)];
    return [{ code: NEW_SUBFILE_TYPE, type: 4, values: [REDUCED_RESOLUTION] }, ...tags];
  });

  // Layout: header | structural metadata | IFD 0 + values | IFD 1 + values | ... | tiles of the smallest
  // overview | ... | tiles of full resolution, each tile as leader | data | trailer.
  const ghost = structuralMetadataBlock();
  const ifdOffsets: number[] = [];
  let cursor = 8 + ghost.byteLength;
  for (const tags of tagsPerImage) {
    ifdOffsets.push(cursor);
    cursor += ifdByteLength(tags);
  }
  const headerBytes = cursor;
  for (let index = images.length - 1; index >= 0; index--) {
    cursor =
      setTileOffsets(tagsPerImage[index]!, images[index]!.tiles, cursor + LEADER_BYTES, LEADER_BYTES + TRAILER_BYTES) +
      TRAILER_BYTES;
  }
  if (cursor > MAX_CLASSIC_TIFF_BYTES) {
    const { width, height } = images[0]!;
    throw new Error(
      `the COG of this ${width} x ${height} mask would be ${cursor} bytes: over the 4 GiB of a classic TIFF, and writeMaskCog does not write BigTIFF`,
    );
  }

  const head = Buffer.alloc(headerBytes);
  writeTiffHeader(head, ifdOffsets[0]!);
  ghost.copy(head, 8);
  tagsPerImage.forEach((tags, index) => writeIfd(head, ifdOffsets[index]!, tags, ifdOffsets[index + 1] ?? 0));
  return { head, fileBytes: cursor };
}

/**
 * GDAL_STRUCTURAL_METADATA_SIZE=NNNNNN bytes\n + the metadata, padded with a NUL so that the first IFD
 * starts on a word boundary (where GDAL puts it and where its validator expects it).
 */
function structuralMetadataBlock(): Buffer {
  const text = `GDAL_STRUCTURAL_METADATA_SIZE=${String(STRUCTURAL_METADATA.length).padStart(6, '0')} bytes\n${STRUCTURAL_METADATA}`;
  const block = Buffer.alloc(text.length + ((8 + text.length) & 1));
  block.write(text, 0, 'latin1');
  return block;
}

/** The block leader (byte count, uint32 LE), the tile, and the trailer (its last 4 bytes again). */
export function framedTile(tile: Uint8Array): Uint8Array[] {
  const leader = Buffer.alloc(LEADER_BYTES);
  leader.writeUInt32LE(tile.byteLength, 0);
  const trailer = Buffer.alloc(TRAILER_BYTES);
  // DEFLATE output is never shorter than 4 bytes; a shorter block would get a zero-padded trailer.
  trailer.set(tile.subarray(Math.max(0, tile.byteLength - TRAILER_BYTES)));
  return [leader, tile, trailer];
}

/** Overview sizes GDAL's COG driver picks: floor(size / factor), at least 1, for factors 2, 4, 8, ... until one fits in a block. */
export function overviewSizes(width: number, height: number, blockSize: number): Array<[number, number]> {
  const sizes: Array<[number, number]> = [];
  let [levelWidth, levelHeight] = [width, height];
  for (let factor = 2; levelWidth > blockSize || levelHeight > blockSize; factor *= 2) {
    levelWidth = Math.max(1, Math.floor(width / factor));
    levelHeight = Math.max(1, Math.floor(height / factor));
    sizes.push([levelWidth, levelHeight]);
  }
  return sizes;
}

/**
 * Nearest-neighbour overviews picking the same source pixels as GDAL (GDALRegenerateOverviewsMultiBand
 * with NEAREST, as the COG driver runs it; established by experiment with GDAL 3.6 and 3.9):
 * - level k is sampled from level k-1 if that one is wider, otherwise (a 1-pixel-wide chain) from full
 *   resolution;
 * - output pixel i takes source pixel trunc(0.5 + i * ratio), ratio = source size / overview size as a
 *   double, independently in x and y. Nodata is not special-cased: nearest never mixes values.
 */
export function overviewLevels(full: MaskImage, blockSize: number): MaskImage[] {
  const levels: MaskImage[] = [];
  for (const { width, height, sampledFrom } of overviewPlan(full.width, full.height, blockSize)) {
    const source = sampledFrom === 0 ? full : levels[sampledFrom - 1]!;
    const columns = sourceIndices(source.width, width);
    const rows = sourceIndices(source.height, height);
    const pixels = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      const sourceRow = rows[y]! * source.width;
      const outRow = y * width;
      for (let x = 0; x < width; x++) pixels[outRow + x] = source.pixels[sourceRow + columns[x]!]!;
    }
    levels.push({ pixels, width, height });
  }
  return levels;
}

/**
 * The overviews (overviewSizes) and the image each is sampled from, as overviewLevels does it: `sampledFrom`
 * 0 = full resolution, k = overview k (1-based, the previous level).
 */
export function overviewPlan(
  width: number,
  height: number,
  blockSize: number,
): Array<{ width: number; height: number; sampledFrom: number }> {
  const sizes = overviewSizes(width, height, blockSize);
  return sizes.map(([levelWidth, levelHeight], index) => {
    const previous = sizes[index - 1];
    return { width: levelWidth, height: levelHeight, sampledFrom: previous && previous[0] > levelWidth ? index : 0 };
  });
}

/** Source pixel of each of `size` output pixels, GDAL's nearest: trunc(0.5 + i * sourceSize / size), clamped. */
export function sourceIndices(sourceSize: number, size: number): Int32Array {
  const ratio = sourceSize / size;
  const indices = new Int32Array(size);
  for (let i = 0; i < size; i++) indices[i] = Math.min(sourceSize - 1, Math.trunc(0.5 + i * ratio));
  return indices;
}
