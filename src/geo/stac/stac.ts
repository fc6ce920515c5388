import type { DataSourceId } from '../../../workflows/contract/types';
import { bboxContains, type Bbox, type PolygonGeometry } from './spatial-domain';

/** The parts of a STAC Item this service reads. */
export interface StacItem {
  id: string;
  collection?: string;
  bbox?: number[];
  geometry?: unknown;
  properties: Record<string, unknown> & { datetime?: string | null; 'eo:cloud_cover'?: number };
  assets: Record<string, { href: string; type?: string; roles?: string[] }>;
  links?: StacLink[];
}

export interface StacLink {
  rel: string;
  href: string;
  method?: string;
  body?: Record<string, unknown>;
  merge?: boolean;
  headers?: Record<string, string>;
}

export interface StacSearchBody {
  collections: string[];
  bbox?: Bbox;
  intersects?: PolygonGeometry;
  datetime: string;
  query?: Record<string, Record<string, unknown>>;
  limit: number;
  [key: string]: unknown;
}

/** A STAC API answered with something other than a FeatureCollection: `status` decides whether to retry. */
export class StacApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export interface StacSearchOptions {
  maxPages: number;
  timeoutMs: number;
  headers?: Record<string, string>;
  /** Called once per page (progress, heartbeats). */
  onPage?: (page: number, items: number) => void;
}

/**
 * POST {apiUrl}/search and follow `rel: next` links until there are none (or maxPages). A next link with
 * `method: POST` carries a `body` that is merged into the previous request body (Earth Search sends the
 * paging token that way); a plain link is fetched with GET.
 */
export async function searchStac(
  apiUrl: string,
  body: StacSearchBody,
  options: StacSearchOptions,
): Promise<{ items: StacItem[]; pages: number }> {
  const items: StacItem[] = [];
  let request:
    | { url: string; method: 'GET' | 'POST'; body?: Record<string, unknown>; headers?: Record<string, string> }
    | undefined = {
    url: `${apiUrl.replace(/\/$/, '')}/search`,
    method: 'POST',
    body,
  };
  let pages = 0;
  while (request && pages < options.maxPages) {
    let response: Response;
    try {
      response = await fetch(request.url, {
        method: request.method,
        headers: {
          Accept: 'application/geo+json, application/json',
          ...(request.body ? { 'Content-Type': 'application/json' } : {}),
          ...options.headers,
          ...request.headers,
        },
        body: request.method === 'POST' ? JSON.stringify(request.body) : undefined,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      throw new StacApiError(`STAC search at ${request.url} failed: ${(error as Error).message}`, null);
    }
    const text = await response.text();
    if (!response.ok)
      throw new StacApiError(
        `STAC search at ${request.url} answered HTTP ${response.status}: ${text.slice(0, 300)}`,
        response.status,
      );
    let page: { type?: string; features?: StacItem[]; links?: StacLink[] };
    try {
      page = JSON.parse(text);
    } catch {
      throw new StacApiError(`STAC search at ${request.url} did not answer JSON`, response.status);
    }
    if (!Array.isArray(page.features))
      throw new StacApiError(`STAC search at ${request.url} did not answer a FeatureCollection`, response.status);
    pages += 1;
    items.push(...page.features);
    options.onPage?.(pages, page.features.length);
    const next: StacLink | undefined =
      page.features.length > 0 ? page.links?.find((link) => link.rel === 'next') : undefined;
    if (!next) break;
    const method = (next.method ?? 'GET').toUpperCase() === 'POST' ? 'POST' : 'GET';
    request = {
      url: next.href,
      method,
      headers: next.headers,
      body: method === 'POST' ? { ...(request.body ?? {}), ...(next.body ?? {}) } : undefined,
    };
  }
  return { items, pages };
}

export function cloudCover(item: StacItem): number | undefined {
  const value = item.properties['eo:cloud_cover'];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Whether the item's bbox covers the area's bbox (its footprint may still have no-data edges). */
export function coversBbox(item: StacItem, area: Bbox): boolean {
  return Array.isArray(item.bbox) && bboxContains(item.bbox, area);
}

/**
 * The least cloudy accepted item within maxcc. Cloud cover is checked here too because some STAC servers
 * ignore the `query` extension. Ties: the later acquisition, then the id. Duplicates (paging overlap) count once.
 */
export function pickLeastCloudy(
  items: StacItem[],
  maxcc: number,
  accept: (item: StacItem) => boolean = () => true,
): StacItem | undefined {
  const seen = new Set<string>();
  const candidates = items.filter((item) => {
    const key = `${item.collection}/${item.id}`;
    if (seen.has(key)) return false;
    seen.add(key);
    const cover = cloudCover(item);
    return cover !== undefined && cover <= maxcc && accept(item);
  });
  candidates.sort(
    (a, b) =>
      cloudCover(a)! - cloudCover(b)! ||
      String(b.properties.datetime ?? '').localeCompare(String(a.properties.datetime ?? '')) ||
      a.id.localeCompare(b.id),
  );
  return candidates[0];
}

/** A data source: where to search, which collections, and how model band names map to asset keys. */
export interface DataSourceDefinition {
  id: DataSourceId;
  label: string;
  collections: string[];
  /** Asset keys by band name, per collection (a '*' entry applies to every collection). */
  bandAssets: Record<string, Record<string, string>>;
  /** Asset key of the scene classification band, per collection. */
  classificationAsset: Record<string, string>;
  classification: 'scl' | 'fmask';
}

const EARTH_SEARCH_S2_BANDS: Record<string, string> = Object.fromEntries(
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
const HLS_S30_BANDS: Record<string, string> = {
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
const HLS_L30_BANDS: Record<string, string> = {
  coastal: 'B01',
  blue: 'B02',
  green: 'B03',
  red: 'B04',
  nir: 'B05',
  nir08: 'B05',
  swir16: 'B06',
  swir22: 'B07',
};

export function dataSourceDefinition(id: DataSourceId, s2Collection: string): DataSourceDefinition {
  if (id === 'hls') {
    return {
      id,
      label: 'HLS',
      collections: ['HLSS30_2.0', 'HLSL30_2.0'],
      bandAssets: { 'HLSS30_2.0': HLS_S30_BANDS, 'HLSL30_2.0': HLS_L30_BANDS },
      classificationAsset: { '*': 'Fmask' },
      classification: 'fmask',
    };
  }
  return {
    id,
    label: 'Sentinel-2 L2A',
    collections: [s2Collection],
    bandAssets: { '*': EARTH_SEARCH_S2_BANDS },
    classificationAsset: { '*': 'scl' },
    classification: 'scl',
  };
}

function forCollection<T>(table: Record<string, T>, collection: string | undefined): T | undefined {
  return (collection ? table[collection] : undefined) ?? table['*'];
}

/**
 * The asset key of each model band for an item of the data source: the mapped name, else the band name
 * itself when the item has such an asset (models may name bands by asset key, e.g. "B04").
 * Returns the keys, or the names that have no asset.
 */
export function assetKeysForBands(
  source: DataSourceDefinition,
  collection: string | undefined,
  bands: string[],
  item?: StacItem,
): { keys: string[]; missing: string[] } {
  const table = forCollection(source.bandAssets, collection) ?? {};
  const keys: string[] = [];
  const missing: string[] = [];
  for (const band of bands) {
    const key = table[band] ?? table[band.toLowerCase()] ?? (Object.values(table).includes(band) ? band : undefined);
    if (!key || (item && !item.assets[key])) missing.push(band);
    else keys.push(key);
  }
  return { keys, missing };
}

export function classificationAssetKey(
  source: DataSourceDefinition,
  collection: string | undefined,
): string | undefined {
  return forCollection(source.classificationAsset, collection);
}
