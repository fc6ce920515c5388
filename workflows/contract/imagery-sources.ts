/**
 * The imagery sources a bbox / polygon / tile request can name as `data_source`, each searched through a
 * STAC API. This table is the one place a source is described: the API's allowed values, the contract's
 * DataSourceId and the STAC search and chip code (src/geo/stac) all derive from it.
 */

/** How a source's scene classification band codes cloud, shadow and snow (see src/geo/post-processing). */
export type ClassificationScheme = 'scl' | 'fmask';

export interface ImagerySource {
  /** The source in messages ("no Sentinel-2 L2A scene covers ..."). */
  label: string;
  /** The setting (src/platform/config) that holds the URL of the source's STAC API. */
  apiUrlSetting: string;
  /** Searches and asset reads send the value of this setting as a bearer token, when it is set; null: anonymous. */
  auth: { bearerTokenSetting: string } | null;
  /** Collections searched. */
  collections: readonly string[];
  /** A setting whose value replaces `collections` (a catalogue that names the collection otherwise); null: none. */
  collectionSetting: 'STAC_COLLECTION' | null;
  /** Asset key of each band name models use, per collection ('*': every collection). */
  bandAssets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** The scene classification band used for cloud / snow masking: its scheme, asset key per collection, fill value. */
  classification: { scheme: ClassificationScheme; asset: Readonly<Record<string, string>>; nodata: number };
  /**
   * Tile requests: the STAC API can filter by MGRS tile with the query extension (Earth Search's mgrs:*
   * properties). Without it the search covers the tile's bbox; either way only items of the tile are picked.
   */
  mgrsTileQuery: boolean;
}

const EARTH_SEARCH_S2_BANDS: Readonly<Record<string, string>> = Object.fromEntries(
  [
    'coastal',
    'blue',
    'green',
    'red',
    'rededge1',
    'rededge2',
    'rededge3',
    'nir',
    'nir08',
    'nir09',
    'swir16',
    'swir22',
  ].map((name) => [name, name]),
);

/** HLS asset keys by the common band names (HLS v2.0 user guide). S30 'nir' is the narrow B8A as in the HLS products. */
const HLS_S30_BANDS: Readonly<Record<string, string>> = {
  coastal: 'B01',
  blue: 'B02',
  green: 'B03',
  red: 'B04',
  rededge1: 'B05',
  rededge2: 'B06',
  rededge3: 'B07',
  nir: 'B8A',
  nir08: 'B8A',
  nir_broad: 'B08',
  swir16: 'B11',
  swir22: 'B12',
};
const HLS_L30_BANDS: Readonly<Record<string, string>> = {
  coastal: 'B01',
  blue: 'B02',
  green: 'B03',
  red: 'B04',
  nir: 'B05',
  nir08: 'B05',
  swir16: 'B06',
  swir22: 'B07',
};

/** By `data_source` value. */
export const IMAGERY_SOURCES = {
  'sentinel-2-l2a': {
    label: 'Sentinel-2 L2A',
    apiUrlSetting: 'STAC_API_URL',
    auth: null,
    collections: ['sentinel-2-l2a'],
    collectionSetting: 'STAC_COLLECTION',
    bandAssets: { '*': EARTH_SEARCH_S2_BANDS },
    classification: { scheme: 'scl', asset: { '*': 'scl' }, nodata: 0 },
    mgrsTileQuery: true,
  },
  hls: {
    label: 'HLS',
    apiUrlSetting: 'HLS_STAC_API_URL',
    auth: { bearerTokenSetting: 'EARTHDATA_TOKEN' },
    collections: ['HLSS30_2.0', 'HLSL30_2.0'],
    collectionSetting: null,
    bandAssets: { 'HLSS30_2.0': HLS_S30_BANDS, 'HLSL30_2.0': HLS_L30_BANDS },
    classification: { scheme: 'fmask', asset: { '*': 'Fmask' }, nodata: 255 },
    mgrsTileQuery: false,
  },
} as const satisfies Record<string, ImagerySource>;

/** Imagery sources searched through a STAC API for bbox / polygon / tile areas. */
export type DataSourceId = keyof typeof IMAGERY_SOURCES;

/** The `data_source` values, in table order. */
export const DATA_SOURCE_IDS = Object.keys(IMAGERY_SOURCES) as [DataSourceId, ...DataSourceId[]];
