import type { AppConfig } from '../../platform/config/config';
import type { StacTaskInput } from '../../../workflows/contract/types';
import { redactUrl } from '../net/address-policy';
import { mgrsQuery } from './spatial-domain';
import {
  assetKeysForBands,
  cloudCover,
  coversBbox,
  dataSourceDefinition,
  pickLeastCloudy,
  searchStac,
  stacApiFor,
  type DataSourceDefinition,
  type ImagerySourceSettings,
  type StacItem,
  type StacSearchBody,
} from './stac';

/** The settings a scene search reads: the imagery sources' and the search limits. */
export type SceneSearchSettings = ImagerySourceSettings &
  Pick<AppConfig, 'STAC_COLLECTION' | 'STAC_PAGE_LIMIT' | 'STAC_MAX_PAGES' | 'FETCH_TIMEOUT_MS'>;

/** Query-extension filters: cloud cover (inclusive: maxcc 0 still finds clear scenes) and, for tiles, the MGRS tile. */
export function sceneSearchBody(input: StacTaskInput, source: DataSourceDefinition, limit: number): StacSearchBody {
  const query: Record<string, Record<string, unknown>> = { 'eo:cloud_cover': { lte: input.maxcc } };
  if (input.mgrs_tile && source.mgrsTileQuery) Object.assign(query, mgrsQuery(input.mgrs_tile));
  return {
    collections: source.collections,
    ...(input.geometry ? { intersects: input.geometry } : { bbox: input.bbox }),
    datetime: input.datetime,
    query,
    limit,
  };
}

/** Whether an item belongs to the requested MGRS tile (Earth Search properties, HLS ids like HLS.S30.T33UXP.2024...). */
export function inTile(item: StacItem, tile: string): boolean {
  const props = item.properties;
  if (props['mgrs:utm_zone'] !== undefined) {
    return (
      `${props['mgrs:utm_zone']}${props['mgrs:latitude_band']}${props['mgrs:grid_square']}` === tile.replace(/^0/, '')
    );
  }
  if (typeof props['s2:mgrs_tile'] === 'string') return props['s2:mgrs_tile'] === tile;
  return item.id.includes(`.T${tile.replace(/^(\d)[A-Z]/, '0$&')}.`) || item.id.includes(`_T${tile}_`);
}

export interface SceneSearchResult {
  /** The scene the data-fetch step builds the chip from; undefined when none fits. */
  scene: StacItem | undefined;
  source: DataSourceDefinition;
  apiUrl: string;
  authHeaders: Record<string, string>;
  itemsFound: number;
  withinMaxcc: number;
  pages: number;
  /** Why no scene fits (date, maxcc, what the search found); set exactly when `scene` is undefined. */
  reason?: string;
}

/**
 * The scene choice of a bbox / polygon / tile x date task: search the data source's STAC API and pick the least
 * cloudy item within maxcc that covers the area (a tile's items must be of that tile) and has every model band.
 * The data-fetch step and the dry run both call this, so a dry run names the scene a real run uses.
 * Throws StacApiError when the STAC API fails.
 */
export async function findScene(
  input: StacTaskInput,
  bandNames: string[],
  config: SceneSearchSettings,
  options: {
    onSearch?: (description: string) => void;
    onPage?: (page: number, items: number) => void;
    /** Checks a `next` link before it is requested (the input address policy); throws to refuse it. */
    checkNextLink?: (url: string) => Promise<unknown>;
    /** Time series frames: ties in cloud cover go to the scene nearest this time (ms). */
    closestTo?: number;
  } = {},
): Promise<SceneSearchResult> {
  const source = dataSourceDefinition(input.data_source, config.STAC_COLLECTION);
  const { url: apiUrl, headers: authHeaders } = stacApiFor(input.data_source, config);
  const body = sceneSearchBody(input, source, config.STAC_PAGE_LIMIT);
  options.onSearch?.(
    `STAC search ${redactUrl(apiUrl)}/search collections=${source.collections.join(',')} ${input.area_label} datetime=${input.datetime} maxcc=${input.maxcc}`,
  );
  const found = await searchStac(apiUrl, body, {
    maxPages: config.STAC_MAX_PAGES,
    timeoutMs: config.FETCH_TIMEOUT_MS,
    headers: authHeaders,
    checkNextLink: options.checkNextLink,
    onPage: options.onPage,
  });
  // A tile's items are the tile (their bbox is the data footprint); bbox/polygon items must cover the area.
  const accept = (item: StacItem) =>
    (input.mgrs_tile ? inTile(item, input.mgrs_tile) : coversBbox(item, input.bbox)) &&
    assetKeysForBands(source, item.collection, bandNames, item).missing.length === 0;
  const scene = pickLeastCloudy(found.items, input.maxcc, accept, options.closestTo);
  const withinMaxcc = found.items.filter((candidate) => (cloudCover(candidate) ?? Infinity) <= input.maxcc).length;
  const result: SceneSearchResult = {
    scene,
    source,
    apiUrl,
    authHeaders,
    itemsFound: found.items.length,
    withinMaxcc,
    pages: found.pages,
  };
  if (!scene) {
    result.reason =
      `no ${source.label} scene (collection ${source.collections.join(', ')}) covers ${input.area_label} in ${input.date} with cloud cover <= ${input.maxcc}% ` +
      `(${found.items.length} scene(s) found for the area and dates, ${withinMaxcc} within maxcc)`;
  }
  return result;
}
