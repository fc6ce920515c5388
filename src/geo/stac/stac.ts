import type { AppConfig } from '../../platform/config/config';
import { IMAGERY_SOURCES, type DataSourceId, type ImagerySource } from '../../../workflows/contract/imagery-sources';
import { bboxContains, type Bbox, type PolygonGeometry } from './spatial-domain';
import { redactUrl } from '../net/address-policy';

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
  /** Checks a `next` link before it is followed (the address policy); throws to refuse it. */
  checkNextLink?: (url: string) => Promise<unknown>;
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
  let credentials = options.headers;
  while (request && pages < options.maxPages) {
    let response: Response;
    try {
      response = await fetch(request.url, {
        method: request.method,
        headers: {
          Accept: 'application/geo+json, application/json',
          ...(request.body ? { 'Content-Type': 'application/json' } : {}),
          ...credentials,
          ...request.headers,
        },
        body: request.method === 'POST' ? JSON.stringify(request.body) : undefined,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      throw new StacApiError(`STAC search at ${redactUrl(request.url)} failed: ${(error as Error).message}`, null);
    }
    const text = await response.text();
    // The answer's bytes are never quoted: a message must not carry what some server said.
    if (!response.ok)
      throw new StacApiError(
        `STAC search at ${redactUrl(request.url)} answered HTTP ${response.status} ${response.statusText}`.trim(),
        response.status,
      );
    let page: { type?: string; features?: StacItem[]; links?: StacLink[] };
    try {
      page = JSON.parse(text);
    } catch {
      throw new StacApiError(`STAC search at ${redactUrl(request.url)} did not answer JSON`, response.status);
    }
    if (!Array.isArray(page.features))
      throw new StacApiError(
        `STAC search at ${redactUrl(request.url)} did not answer a FeatureCollection`,
        response.status,
      );
    pages += 1;
    items.push(...page.features);
    options.onPage?.(pages, page.features.length);
    const next: StacLink | undefined =
      page.features.length > 0 ? page.links?.find((link) => link.rel === 'next') : undefined;
    if (!next) break;
    const method = (next.method ?? 'GET').toUpperCase() === 'POST' ? 'POST' : 'GET';
    try {
      await options.checkNextLink?.(next.href);
    } catch (error) {
      throw new StacApiError(`STAC search: the next page ${redactUrl(next.href)} ${(error as Error).message}`, 400);
    }
    // Credentials (Earthdata token) go only to the origin they were configured for.
    if (new URL(next.href, request.url).origin !== new URL(request.url).origin) credentials = undefined;
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
  /** Time series frames: among equally cloudy scenes the one nearest this time (ms) wins. */
  closestTo?: number,
): StacItem | undefined {
  const distance = (item: StacItem) =>
    closestTo === undefined ? 0 : Math.abs(Date.parse(String(item.properties.datetime ?? '')) - closestTo) || 0;
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
      distance(a) - distance(b) ||
      String(b.properties.datetime ?? '').localeCompare(String(a.properties.datetime ?? '')) ||
      a.id.localeCompare(b.id),
  );
  return candidates[0];
}

/** A source of the imagery-source table with its collections resolved (see dataSourceDefinition). */
export interface DataSourceDefinition extends ImagerySource {
  id: DataSourceId;
  collections: string[];
}

type TableEntry = (typeof IMAGERY_SOURCES)[DataSourceId];

/** The settings the imagery-source table names (STAC API URLs, tokens, collection): each must be a config key. */
export type ImagerySourceSettings = Pick<
  AppConfig,
  | TableEntry['apiUrlSetting']
  | Extract<TableEntry['auth'], object>['bearerTokenSetting']
  | NonNullable<TableEntry['collectionSetting']>
>;

/** The table's entry for `id`; `stacCollection` (STAC_COLLECTION) replaces the collections of a source naming it. */
export function dataSourceDefinition(id: DataSourceId, stacCollection: string): DataSourceDefinition {
  const source: ImagerySource = IMAGERY_SOURCES[id];
  return { ...source, id, collections: source.collectionSetting ? [stacCollection] : [...source.collections] };
}

/** Where to search a source: its STAC API URL, and the bearer token header when its token setting is set. */
export function stacApiFor(
  id: DataSourceId,
  settings: ImagerySourceSettings,
): { url: string; headers: Record<string, string> } {
  const source = IMAGERY_SOURCES[id];
  const token = source.auth ? settings[source.auth.bearerTokenSetting] : undefined;
  return { url: settings[source.apiUrlSetting], headers: token ? { Authorization: `Bearer ${token}` } : {} };
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
  return forCollection(source.classification.asset, collection);
}
