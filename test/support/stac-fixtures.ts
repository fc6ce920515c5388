import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPython } from './python';
import type { StacDoubleItem } from './stac-double';

export const S2_ASSETS = ['blue', 'green', 'red', 'nir', 'nir08', 'swir16', 'swir22', 'scl'] as const;
/** HLS S30 asset keys served from the same fixture files (Fmask derived from the SCL classes). */
export const HLS_S30_ASSET_FILES: Record<string, string> = {
  B02: 'blue',
  B03: 'green',
  B04: 'red',
  B8A: 'nir',
  B11: 'swir16',
  B12: 'swir22',
  Fmask: 'fmask',
};

export interface StacFixtures {
  dir: string;
  sceneBbox: [number, number, number, number];
  /** A ~3 x 3 km area inside the scene with clouds in it (SCL 3/8/9). */
  chipBbox: [number, number, number, number];
  sizes: Record<string, number>;
  /** Permanent-water reference (EPSG:4326 GeoTIFF, outside `dir`): water west of `waterLon`. */
  waterPath: string;
  waterLon: number;
}

/** Generates the Sentinel-2-like COG assets (test/fixtures/make_stac_cogs.py) into a fresh temp dir. */
export async function makeStacFixtures(): Promise<StacFixtures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-stac-cogs-'));
  const stdout = await runPython('test/fixtures/make_stac_cogs.py', [dir]);
  const parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
    scene_bbox: number[];
    chip_bbox: number[];
    water_lon: number;
    sizes: Record<string, number>;
  };
  return {
    dir,
    sceneBbox: parsed.scene_bbox as StacFixtures['sceneBbox'],
    chipBbox: parsed.chip_bbox as StacFixtures['chipBbox'],
    sizes: parsed.sizes,
    waterPath: `${dir}-water.tif`,
    waterLon: parsed.water_lon,
  };
}

/** An Earth Search-like sentinel-2-l2a item whose assets are the fixture files served at `assetUrl`. */
export function s2Item(
  id: string,
  options: {
    bbox: [number, number, number, number];
    datetime: string;
    cloudCover: number;
    assetUrl: (name: string) => string;
    tile?: string;
  },
): StacDoubleItem {
  const [minX, minY, maxX, maxY] = options.bbox;
  const tile = /^(\d+)([A-Z])([A-Z]{2})$/.exec(options.tile ?? '33UXP')!;
  return {
    id,
    collection: 'sentinel-2-l2a',
    bbox: options.bbox,
    geometry: {
      type: 'Polygon',
      coordinates: [
        [
          [minX, minY],
          [maxX, minY],
          [maxX, maxY],
          [minX, maxY],
          [minX, minY],
        ],
      ],
    },
    properties: {
      datetime: options.datetime,
      'eo:cloud_cover': options.cloudCover,
      'mgrs:utm_zone': Number(tile[1]),
      'mgrs:latitude_band': tile[2],
      'mgrs:grid_square': tile[3],
      'proj:epsg': 32633,
    },
    assets: Object.fromEntries(
      S2_ASSETS.map((name) => [
        name,
        { href: options.assetUrl(`${name}.tif`), type: 'image/tiff; application=geotiff; profile=cloud-optimized' },
      ]),
    ),
  };
}

/** A CMR-STAC-like HLSS30_2.0 item (id HLS.S30.T33UXP.<date>.v2.0) over the fixture files. */
export function hlsItem(
  id: string,
  options: {
    bbox: [number, number, number, number];
    datetime: string;
    cloudCover: number;
    assetUrl: (name: string) => string;
  },
): StacDoubleItem {
  return {
    id,
    collection: 'HLSS30_2.0',
    bbox: options.bbox,
    properties: { datetime: options.datetime, 'eo:cloud_cover': options.cloudCover },
    assets: Object.fromEntries(
      Object.entries(HLS_S30_ASSET_FILES).map(([key, file]) => [key, { href: options.assetUrl(`${file}.tif`) }]),
    ),
  };
}

export interface ChipCheck {
  width: number;
  height: number;
  count: number;
  epsg: number;
  transform: number[];
  descriptions: Array<string | null>;
  dtype: string;
  bands_check: Array<{ name: string; equal_fraction: number; correlation: number }>;
  mask_check?: { cloudy_pixels: number; nodata_pixels: number; mismatches: number; total: number };
  water_check?: { west: number; west_nodata_fraction: number; east: number; east_nodata_fraction: number };
  polygon_check?: { inside: number; outside: number; outside_nodata_fraction: number; inside_valid_fraction: number };
}

export async function checkChip(
  chip: string,
  assetDir: string,
  bands: string[],
  options: { output?: string; polygon?: unknown; maskedScl?: number[]; waterLon?: number } = {},
): Promise<ChipCheck> {
  const args = [chip, assetDir, bands.join(',')];
  if (options.maskedScl) args.push('--masked-scl', options.maskedScl.join(','));
  if (options.waterLon !== undefined) args.push('--water-lon', String(options.waterLon));
  if (options.output) args.push('--output', options.output);
  if (options.polygon) args.push('--polygon', JSON.stringify(options.polygon));
  const stdout = await runPython('test/support/check_chip.py', args);
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as ChipCheck;
}
