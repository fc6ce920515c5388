/**
 * Web Mercator map tiles rendered from a task's output GeoTIFF (normally a COG: tiled, with overviews).
 *
 * For each tile: pick the image (full resolution or overview) whose pixels are just finer than the tile's,
 * find the source pixel under the centre of every tile pixel (EPSG:3857 -> lon/lat -> raster CRS with
 * proj4 -> inverse geotransform), and take its value: nearest neighbour, because a class mask must never be
 * interpolated. Only the blocks under the tile are decoded; decoded blocks and opened files are kept in
 * bounded LRU caches, so warm tiles cost a few array look-ups and a PNG encode.
 */
import { getDecoder, type GeoTIFF, type GeoTIFFImage } from 'geotiff';
import { LRUCache } from 'lru-cache';
import { affineOf, epsgOf, type GeoReference } from '../raster/georeference';
import { registerNativeDeflate } from '../raster/deflate';
import type { ModelClassSpec } from '../../../workflows/contract/model-spec';
import { lonLatTransform, type LonLatTransform } from './crs';
import { encodePalettePng, encodeRgbaPng, type Rgba } from './png';
import { lonLatToMercator, MAX_TILE_ZOOM, mercatorToLonLat, pixelSize, TILE_SIZE, tileBounds } from './web-mercator';

registerNativeDeflate();

type Affine = [number, number, number, number, number, number];
type NumberArray =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** Same palette as the GeoServer styles (geoserver-publisher.ts) for classes without a colour. */
export const DEFAULT_CLASS_COLORS = [
  '#e41a1c',
  '#377eb8',
  '#4daf4a',
  '#984ea3',
  '#ff7f00',
  '#ffff33',
  '#a65628',
  '#f781bf',
  '#999999',
];

/**
 * Class value -> palette index. Palette entry 0 is transparent: nodata, values that are no class, and
 * everything outside the raster. Class i (in spec order) is entry i + 1, opaque.
 */
export interface ColourMap {
  palette: Rgba[];
  /** Palette index of a pixel value. */
  indexOf(value: number): number;
}

function parseColor(color: string | undefined, fallback: string): Rgba {
  let hex =
    color && /^#[0-9a-fA-F]{6}$/.test(color)
      ? color
      : color && /^#[0-9a-fA-F]{3}$/.test(color)
        ? `#${[...color.slice(1)].map((c) => c + c).join('')}`
        : fallback;
  hex = hex.slice(1);
  return [parseInt(hex.slice(0, 2), 16), parseInt(hex.slice(2, 4), 16), parseInt(hex.slice(4, 6), 16), 255];
}

export function classColourMap(classes: readonly ModelClassSpec[], nodata: number | null): ColourMap {
  const palette: Rgba[] = [[0, 0, 0, 0]];
  const byValue = new Map<number, number>();
  classes.slice(0, 255).forEach((spec, i) => {
    if (spec.value === nodata || byValue.has(spec.value)) return;
    palette.push(parseColor(spec.color, DEFAULT_CLASS_COLORS[i % DEFAULT_CLASS_COLORS.length]!));
    byValue.set(spec.value, palette.length - 1);
  });
  // Integer masks (the normal case) look colours up in a table; anything else goes through the map.
  const table = new Uint8Array(65536);
  for (const [value, index] of byValue)
    if (Number.isInteger(value) && value >= 0 && value < 65536) table[value] = index;
  return {
    palette,
    indexOf: (value) =>
      value >= 0 && value < 65536 && Number.isInteger(value) ? table[value]! : (byValue.get(value) ?? 0),
  };
}

interface Level {
  image: GeoTIFFImage;
  index: number;
  width: number;
  height: number;
  blockWidth: number;
  blockHeight: number;
  blocksAcross: number;
  /** Values between two pixels of band 1 inside a decoded block. */
  stride: number;
  /** Bands (samples per pixel); with PlanarConfiguration 2 each band has blocks of its own. */
  samples: number;
  planar: number;
  ArrayType: new (buffer: ArrayBuffer) => NumberArray;
  nodata: number | null;
  /** This level's pixels per full-resolution pixel (<= 1). */
  scaleX: number;
  scaleY: number;
  decoder?: Promise<{ decode(fileDirectory: unknown, buffer: ArrayBuffer): Promise<ArrayBuffer> }>;
}

export interface TileSetInfo {
  /** [west, south, east, north] in WGS 84 degrees. */
  bounds: [number, number, number, number];
  /** Zoom at which the coarsest overview is used; tiles below still render (from that overview). */
  minzoom: number;
  /** First zoom whose tile pixels are at least as fine as the full-resolution pixels. */
  maxzoom: number;
  epsg: number;
}

function arrayTypeOf(image: GeoTIFFImage): Level['ArrayType'] {
  const fd = image.getFileDirectory() as { BitsPerSample?: ArrayLike<number>; SampleFormat?: ArrayLike<number> };
  const bits = fd.BitsPerSample?.[0] ?? 8;
  const format = fd.SampleFormat?.[0] ?? 1;
  const types: Record<string, Level['ArrayType']> = {
    '1-8': Uint8Array,
    '1-16': Uint16Array,
    '1-32': Uint32Array,
    '2-8': Int8Array,
    '2-16': Int16Array,
    '2-32': Int32Array,
    '3-32': Float32Array,
    '3-64': Float64Array,
  };
  const type = types[`${format}-${bits}`];
  if (!type) throw new Error(`unsupported sample type for map tiles: ${bits}-bit, sample format ${format}`);
  return type;
}

/** An opened raster: its levels, georeferencing and tile-set extent. */
export class TileRaster {
  readonly levels: Level[];
  readonly affine: Affine;
  readonly epsg: number;
  readonly nodata: number | null;
  readonly crs: LonLatTransform;
  /** Raster extent in EPSG:3857 (from its densified outline): tiles outside are transparent without any reading. */
  readonly mercatorBounds: [number, number, number, number];
  readonly info: TileSetInfo;
  /** Bands of the raster (samples per pixel of its full-resolution image). */
  get bands(): number {
    return this.levels[0]?.samples ?? 1;
  }
  private readonly inverse: Affine;
  /** Full-resolution pixel size in CRS units (along x). */
  private readonly pixelSizeX: number;

  private constructor(
    readonly id: string,
    private readonly tiff: GeoTIFF,
    images: GeoTIFFImage[],
  ) {
    const first = images[0]!;
    const fd = first.getFileDirectory() as {
      GDAL_NODATA?: string;
      GeoKeyDirectory?: unknown;
      ModelPixelScale?: ArrayLike<number>;
      ModelTiepoint?: ArrayLike<number>;
      ModelTransformation?: ArrayLike<number>;
    };
    const georef: GeoReference = {
      modelPixelScale: fd.ModelPixelScale && Array.from(fd.ModelPixelScale),
      modelTiepoint: fd.ModelTiepoint && Array.from(fd.ModelTiepoint),
      modelTransformation: fd.ModelTransformation && Array.from(fd.ModelTransformation),
      geoKeys: { ...((first.getGeoKeys() as Record<string, unknown> | null) ?? {}) },
    };
    const affine = affineOf(georef);
    if (!affine) throw new Error('the raster has no georeferencing (geotransform), so it cannot be shown as map tiles');
    this.affine = affine;
    const epsg = epsgOf(georef);
    this.crs = lonLatTransform(epsg);
    this.epsg = epsg!;
    const nodataText = fd.GDAL_NODATA?.replace(/\0/g, '').trim();
    this.nodata = nodataText ? Number(nodataText) : null;
    const [a, b, c, d, e, f] = affine;
    const det = a * e - b * d;
    this.inverse = [e / det, -b / det, (b * f - e * c) / det, -d / det, a / det, (d * c - a * f) / det];
    this.pixelSizeX = Math.hypot(a, d);
    const fullWidth = first.getWidth();
    const fullHeight = first.getHeight();
    this.levels = images.map((image, index) => {
      const planar = (image.getFileDirectory() as { PlanarConfiguration?: number }).PlanarConfiguration ?? 1;
      return {
        image,
        index,
        width: image.getWidth(),
        height: image.getHeight(),
        blockWidth: image.getTileWidth(),
        blockHeight: image.getTileHeight(),
        blocksAcross: Math.ceil(image.getWidth() / image.getTileWidth()),
        stride: planar === 1 ? image.getSamplesPerPixel() : 1,
        samples: image.getSamplesPerPixel(),
        planar,
        ArrayType: arrayTypeOf(image),
        nodata: this.nodata,
        scaleX: image.getWidth() / fullWidth,
        scaleY: image.getHeight() / fullHeight,
      };
    });
    this.mercatorBounds = this.outlineBounds((lon, lat) => lonLatToMercator(lon, lat));
    const wgs84 = this.outlineBounds((lon, lat) => [lon, lat]);
    // Zoom range from the ground size of a pixel at the raster's centre, measured in EPSG:3857.
    const centre = this.toMercator(fullWidth / 2, fullHeight / 2);
    const step = this.toMercator(fullWidth / 2 + 1, fullHeight / 2);
    const fullRes = Math.hypot(step[0] - centre[0], step[1] - centre[1]);
    const coarsest = this.levels[this.levels.length - 1]!;
    const zoomFor = (res: number) => Math.log2(pixelSize(0) / res);
    const maxzoom = Math.max(0, Math.min(MAX_TILE_ZOOM, Math.ceil(zoomFor(fullRes) - 1e-9)));
    const minzoom = Math.max(0, Math.min(maxzoom, Math.floor(zoomFor(fullRes / coarsest.scaleX))));
    this.info = {
      bounds: wgs84.map((v) => Math.round(v * 1e7) / 1e7) as TileSetInfo['bounds'],
      minzoom,
      maxzoom,
      epsg: this.epsg,
    };
  }

  /** Opens a GeoTIFF for tiling: full-resolution image plus its reduced-resolution images (overviews); masks are skipped. */
  static async open(id: string, tiff: GeoTIFF): Promise<TileRaster> {
    const count = await tiff.getImageCount();
    const images: GeoTIFFImage[] = [];
    for (let i = 0; i < count; i++) {
      const image = await tiff.getImage(i);
      const subfile = (image.getFileDirectory() as { NewSubfileType?: number }).NewSubfileType ?? 0;
      if (subfile & 4) continue; // transparency mask, not data
      if (i > 0 && !(subfile & 1)) continue; // another page, not an overview
      images.push(image);
    }
    if (images.length === 0) throw new Error('the GeoTIFF has no image');
    images.sort((p, q) => q.getWidth() - p.getWidth());
    return new TileRaster(id, tiff, images);
  }

  async close(): Promise<void> {
    await this.tiff.close();
  }

  private toMercator(col: number, row: number): [number, number] {
    const [a, b, c, d, e, f] = this.affine;
    const [lon, lat] = this.crs.inverse([a * col + b * row + c, d * col + e * row + f]);
    return lonLatToMercator(lon, lat);
  }

  /** Bounds of the raster outline (64 points per edge, since straight edges curve in other CRSs). */
  private outlineBounds(project: (lon: number, lat: number) => [number, number]): [number, number, number, number] {
    const w = this.levels[0]!.width;
    const h = this.levels[0]!.height;
    const [a, b, c, d, e, f] = this.affine;
    const bounds: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
    const n = 64;
    for (let k = 0; k <= n; k++) {
      const t = k / n;
      for (const [col, row] of [
        [t * w, 0],
        [t * w, h],
        [0, t * h],
        [w, t * h],
      ] as const) {
        const [lon, lat] = this.crs.inverse([a * col + b * row + c, d * col + e * row + f]);
        const [x, y] = project(lon, lat);
        bounds[0] = Math.min(bounds[0], x);
        bounds[1] = Math.min(bounds[1], y);
        bounds[2] = Math.max(bounds[2], x);
        bounds[3] = Math.max(bounds[3], y);
      }
    }
    return bounds;
  }

  /** Full-resolution pixel coordinates (fractional, 0 = left/top edge) of a lon/lat point. */
  pixelOf(lon: number, lat: number): [number, number] {
    const [x, y] = this.crs.forward([lon, lat]);
    const [ia, ib, ic, id, ie, iff] = this.inverse;
    return [ia * x + ib * y + ic, id * x + ie * y + iff];
  }

  /**
   * The level a tile at zoom z reads: the coarsest whose pixels are no larger than the tile's pixels,
   * measured in the raster CRS across the tile pixel at (mx, my) (EPSG:3857); full resolution when zoomed
   * in further.
   */
  levelFor(z: number, mx: number, my: number): Level {
    const r = pixelSize(z);
    const [lon0, lat0] = mercatorToLonLat(mx - r / 2, my);
    const [lon1, lat1] = mercatorToLonLat(mx + r / 2, my);
    const p0 = this.crs.forward([lon0, lat0]);
    const p1 = this.crs.forward([lon1, lat1]);
    const tilePixel = Math.hypot(p1[0] - p0[0], p1[1] - p0[1]);
    let chosen = this.levels[0]!;
    for (const level of this.levels) if (this.pixelSizeX / level.scaleX <= tilePixel * (1 + 1e-9)) chosen = level;
    return chosen;
  }
}

export interface TileRendererOptions {
  /** Bytes of decoded blocks kept (default 256 MiB). */
  blockCacheBytes?: number;
  /** Opened rasters kept (default 64); closed when evicted. */
  maxOpenRasters?: number;
  /** An opened raster is reopened after this long (signed URLs expire; outputs may be replaced by a rerun). */
  openTtlMs?: number;
}

/** Largest interpolation error accepted when source positions are interpolated between exact ones, in source pixels. */
const MAX_INTERPOLATION_ERROR = 1e-3;

export class TileRenderer {
  private readonly rasters: LRUCache<string, Promise<TileRaster>>;
  private readonly blocks: LRUCache<string, NumberArray, { level: Level; bx: number; by: number; sample: number }>;
  private emptyPng?: Buffer;

  constructor(options: TileRendererOptions = {}) {
    this.rasters = new LRUCache<string, Promise<TileRaster>>({
      max: options.maxOpenRasters ?? 64,
      ttl: options.openTtlMs ?? 10 * 60_000,
      // Closed a little later: a tile being rendered may still be reading it.
      dispose: (raster) =>
        void setTimeout(() => void raster.then((r) => r.close()).catch(() => undefined), 30_000).unref(),
    });
    this.blocks = new LRUCache<string, NumberArray, { level: Level; bx: number; by: number; sample: number }>({
      maxSize: options.blockCacheBytes ?? 256 * 1024 * 1024,
      sizeCalculation: (block) => Math.max(1, block.byteLength),
      // fetch() shares one decode between concurrent requests for the same block.
      fetchMethod: async (_key, _stale, { context }) => {
        const { level, bx, by, sample } = context;
        const fd = level.image.getFileDirectory() as {
          TileByteCounts?: ArrayLike<number>;
          StripByteCounts?: ArrayLike<number>;
        };
        const counts = fd.TileByteCounts ?? fd.StripByteCounts;
        const blocksPerBand = level.blocksAcross * Math.ceil(level.height / level.blockHeight);
        if (counts && counts[sample * blocksPerBand + by * level.blocksAcross + bx] === 0) {
          // Sparse block (GDAL SPARSE_OK): nothing written there, i.e. nodata.
          const empty = new level.ArrayType(
            new ArrayBuffer(
              level.blockWidth *
                level.blockHeight *
                level.stride *
                new level.ArrayType(new ArrayBuffer(8)).BYTES_PER_ELEMENT,
            ),
          );
          return level.nodata === null ? empty : empty.fill(level.nodata);
        }
        level.decoder ??= getDecoder(fd) as NonNullable<Level['decoder']>;
        const block = (await level.image.getTileOrStrip(bx, by, sample, await level.decoder)) as unknown as {
          data: ArrayBuffer;
        };
        return new level.ArrayType(block.data);
      },
    });
  }

  /** The opened raster `id`, opening it with `open` when it is not cached (concurrent callers share one open). */
  async raster(id: string, open: () => Promise<GeoTIFF>): Promise<TileRaster> {
    let raster = this.rasters.get(id);
    if (!raster) {
      raster = open().then((tiff) => TileRaster.open(id, tiff));
      this.rasters.set(id, raster);
      raster.catch(() => {
        if (this.rasters.get(id) === raster) this.rasters.delete(id);
      });
    }
    return raster;
  }

  /** Forgets an opened raster (e.g. when its object was replaced). */
  evict(id: string): void {
    this.rasters.delete(id);
  }

  /**
   * The source pixel under each pixel of tile z/x/y (nearest neighbour on the level the zoom reads): calls
   * `visit(i, block, offset)` with the block holding it and the offset of its sample of `band` (0-based; pixel
   * interleaved rasters: the first sample is band 0's). Null when the tile shows nothing of the raster.
   */
  private async samplePixels(
    raster: TileRaster,
    z: number,
    x: number,
    y: number,
    visit: (i: number, block: NumberArray, offset: number) => void,
    band = 0,
  ): Promise<{ level: number } | null> {
    const [minX, minY, maxX, maxY] = tileBounds(z, x, y);
    const mb = raster.mercatorBounds;
    if (maxX <= mb[0] || minX >= mb[2] || maxY <= mb[1] || minY >= mb[3]) return null;
    const level = raster.levelFor(z, (minX + maxX) / 2, (minY + maxY) / 2);
    if (!Number.isInteger(band) || band < 0 || band >= level.samples)
      throw new RangeError(`band ${band + 1} is not a band of the raster (1-${level.samples})`);
    const { cols, rows } = sourcePixels(raster, z, x, y, level);

    const n = TILE_SIZE * TILE_SIZE;
    const pixelCols = new Int32Array(n);
    const pixelRows = new Int32Array(n);
    let colMin = Infinity;
    let colMax = -Infinity;
    let rowMin = Infinity;
    let rowMax = -Infinity;
    for (let i = 0; i < n; i++) {
      const col = Math.floor(cols[i]! * level.scaleX);
      const row = Math.floor(rows[i]! * level.scaleY);
      if (col < 0 || row < 0 || col >= level.width || row >= level.height) {
        pixelCols[i] = -1;
        continue;
      }
      pixelCols[i] = col;
      pixelRows[i] = row;
      if (col < colMin) colMin = col;
      if (col > colMax) colMax = col;
      if (row < rowMin) rowMin = row;
      if (row > rowMax) rowMax = row;
    }
    if (colMin === Infinity) return null;

    const bx0 = Math.floor(colMin / level.blockWidth);
    const by0 = Math.floor(rowMin / level.blockHeight);
    const across = Math.floor(colMax / level.blockWidth) - bx0 + 1;
    const down = Math.floor(rowMax / level.blockHeight) - by0 + 1;
    const blocks = await Promise.all(
      Array.from({ length: across * down }, (_, k) => {
        const bx = bx0 + (k % across);
        const by = by0 + Math.floor(k / across);
        const sample = level.planar === 2 ? band : 0;
        return this.blocks.fetch(`${raster.id}|${level.index}|${bx}|${by}|${sample}`, {
          context: { level, bx, by, sample },
        }) as Promise<NumberArray>;
      }),
    );

    const { blockWidth, blockHeight, stride } = level;
    const bandOffset = level.planar === 2 ? 0 : band;
    for (let i = 0; i < n; i++) {
      const col = pixelCols[i]!;
      if (col < 0) continue;
      const row = pixelRows[i]!;
      const bx = Math.floor(col / blockWidth);
      const by = Math.floor(row / blockHeight);
      const block = blocks[(by - by0) * across + (bx - bx0)]!;
      visit(i, block, ((row - by * blockHeight) * blockWidth + (col - bx * blockWidth)) * stride + bandOffset);
    }
    return { level: level.index };
  }

  /**
   * Palette indices (TILE_SIZE x TILE_SIZE) of tile z/x/y drawn from `band` (0-based), or null when the tile shows
   * nothing of the raster.
   */
  async renderIndices(
    raster: TileRaster,
    z: number,
    x: number,
    y: number,
    colours: ColourMap,
    band = 0,
  ): Promise<{ indices: Uint8Array; level: number } | null> {
    const indices = new Uint8Array(TILE_SIZE * TILE_SIZE);
    const sampled = await this.samplePixels(
      raster,
      z,
      x,
      y,
      (i, block, offset) => {
        const value = block[offset]!;
        indices[i] = value === raster.nodata ? 0 : colours.indexOf(value);
      },
      band,
    );
    return sampled && { indices, level: sampled.level };
  }

  /**
   * RGBA PNG of tile z/x/y of a pixel-interleaved RGB(A) uint8 raster (an input preview): bands 1-3 as red,
   * green, blue, band 4 (when there) as alpha; transparent outside the raster.
   */
  async renderRgbaPng(raster: TileRaster, z: number, x: number, y: number): Promise<{ png: Buffer; level: number }> {
    const rgba = new Uint8Array(TILE_SIZE * TILE_SIZE * 4);
    const samples = raster.levels[0]?.stride ?? 1;
    if (samples < 3) throw new Error(`an RGB tile needs 3 or 4 pixel-interleaved bands, the raster has ${samples}`);
    const alpha = samples >= 4;
    const sampled = await this.samplePixels(raster, z, x, y, (i, block, offset) => {
      rgba[i * 4] = block[offset]!;
      rgba[i * 4 + 1] = block[offset + 1]!;
      rgba[i * 4 + 2] = block[offset + 2]!;
      rgba[i * 4 + 3] = alpha ? block[offset + 3]! : 255;
    });
    return { png: encodeRgbaPng(TILE_SIZE, TILE_SIZE, rgba), level: sampled?.level ?? -1 };
  }

  /**
   * PNG of tile z/x/y of `band` (0-based; a transparent tile where the raster is not), and the level it was read
   * from (-1: none).
   */
  async renderPng(
    raster: TileRaster,
    z: number,
    x: number,
    y: number,
    colours: ColourMap,
    band = 0,
  ): Promise<{ png: Buffer; level: number }> {
    const rendered = await this.renderIndices(raster, z, x, y, colours, band);
    if (!rendered) {
      this.emptyPng ??= encodePalettePng(TILE_SIZE, TILE_SIZE, new Uint8Array(TILE_SIZE * TILE_SIZE), [[0, 0, 0, 0]]);
      return { png: this.emptyPng, level: -1 };
    }
    return { png: encodePalettePng(TILE_SIZE, TILE_SIZE, rendered.indices, colours.palette), level: rendered.level };
  }
}

/**
 * Full-resolution pixel coordinates under the centre of every tile pixel. EPSG:3857 -> lon/lat is separable
 * (lon from x, lat from y), but lon/lat -> raster CRS costs a proj4 call (~0.4 us): 65,536 per tile would be
 * ~26 ms. So, as GDAL's approximate transformer does, positions are computed exactly on a grid and
 * interpolated bilinearly in between, after checking at every cell centre that interpolation is off by less
 * than MAX_INTERPOLATION_ERROR source pixels of the level read; otherwise the grid is refined (down to exact).
 */
function sourcePixels(
  raster: TileRaster,
  z: number,
  x: number,
  y: number,
  level: Level,
): { cols: Float64Array; rows: Float64Array } {
  const [minX, , , maxY] = tileBounds(z, x, y);
  const r = pixelSize(z);
  // Index TILE_SIZE is one past the last pixel centre: the far grid line of the last cell.
  const lon = new Float64Array(TILE_SIZE + 1);
  const lat = new Float64Array(TILE_SIZE + 1);
  for (let i = 0; i <= TILE_SIZE; i++) {
    lon[i] = mercatorToLonLat(minX + (i + 0.5) * r, 0)[0];
    lat[i] = mercatorToLonLat(0, maxY - (i + 0.5) * r)[1];
  }
  const n = TILE_SIZE * TILE_SIZE;
  const cols = new Float64Array(n);
  const rows = new Float64Array(n);
  const tolerance = MAX_INTERPOLATION_ERROR / Math.max(level.scaleX, level.scaleY);

  for (let step = raster.crs.identity ? 0 : 16; step >= 2; step /= 2) {
    const nodes = TILE_SIZE / step + 1;
    const nodeCols = new Float64Array(nodes * nodes);
    const nodeRows = new Float64Array(nodes * nodes);
    for (let j = 0; j < nodes; j++) {
      for (let i = 0; i < nodes; i++) {
        const [c, rr] = raster.pixelOf(lon[i * step]!, lat[j * step]!);
        nodeCols[j * nodes + i] = c;
        nodeRows[j * nodes + i] = rr;
      }
    }
    const interpolate = (i: number, j: number): [number, number] => {
      const gi = Math.min(Math.floor(i / step), nodes - 2);
      const gj = Math.min(Math.floor(j / step), nodes - 2);
      const u = (i - gi * step) / step;
      const v = (j - gj * step) / step;
      const k = gj * nodes + gi;
      const top = nodeCols[k]! + u * (nodeCols[k + 1]! - nodeCols[k]!);
      const bottom = nodeCols[k + nodes]! + u * (nodeCols[k + nodes + 1]! - nodeCols[k + nodes]!);
      const topRow = nodeRows[k]! + u * (nodeRows[k + 1]! - nodeRows[k]!);
      const bottomRow = nodeRows[k + nodes]! + u * (nodeRows[k + nodes + 1]! - nodeRows[k + nodes]!);
      return [top + v * (bottom - top), topRow + v * (bottomRow - topRow)];
    };
    let worst = 0;
    for (let j = step / 2; j < TILE_SIZE && worst <= tolerance; j += step) {
      for (let i = step / 2; i < TILE_SIZE; i += step) {
        const [c, rr] = interpolate(i, j);
        const [ec, er] = raster.pixelOf(lon[i]!, lat[j]!);
        worst = Math.max(worst, Math.abs(c - ec), Math.abs(rr - er));
      }
    }
    if (worst > tolerance) continue;
    // The same bilinear interpolation as interpolate(), unrolled: this loop runs for all 65,536 pixels.
    for (let j = 0; j < TILE_SIZE; j++) {
      const gj = Math.min(Math.floor(j / step), nodes - 2);
      const v = (j - gj * step) / step;
      for (let i = 0; i < TILE_SIZE; i++) {
        const gi = Math.min(Math.floor(i / step), nodes - 2);
        const u = (i - gi * step) / step;
        const k = gj * nodes + gi;
        const top = nodeCols[k]! + u * (nodeCols[k + 1]! - nodeCols[k]!);
        const bottom = nodeCols[k + nodes]! + u * (nodeCols[k + nodes + 1]! - nodeCols[k + nodes]!);
        const topRow = nodeRows[k]! + u * (nodeRows[k + 1]! - nodeRows[k]!);
        const bottomRow = nodeRows[k + nodes]! + u * (nodeRows[k + nodes + 1]! - nodeRows[k + nodes]!);
        cols[j * TILE_SIZE + i] = top + v * (bottom - top);
        rows[j * TILE_SIZE + i] = topRow + v * (bottomRow - topRow);
      }
    }
    return { cols, rows };
  }
  // Exact for every pixel: geographic rasters (cheap) or strongly curved mappings.
  for (let j = 0; j < TILE_SIZE; j++) {
    for (let i = 0; i < TILE_SIZE; i++) {
      const [c, rr] = raster.pixelOf(lon[i]!, lat[j]!);
      cols[j * TILE_SIZE + i] = c;
      rows[j * TILE_SIZE + i] = rr;
    }
  }
  return { cols, rows };
}
