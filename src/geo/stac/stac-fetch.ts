import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppConfig } from '../../platform/config/config';
import { DEFAULT_CHIP_RESOLUTION_M, type ModelInputDataSpec } from '../../../workflows/contract/model-spec';
import type { ObjectStore } from '../../platform/storage/object-store';
import type { StacTaskInput } from '../../../workflows/contract/types';
import type { ClassificationScheme } from '../../../workflows/contract/imagery-sources';
import { invalidInput, StepFailure } from '../../../workflows/contract/errors';
import { findScene, type SceneSearchResult } from './scene-search';
import {
  assetKeysForBands,
  classificationAssetKey,
  cloudCover,
  type ImagerySourceSettings,
  StacApiError,
} from './stac';
import type { StepLogger } from '../step-logger';
import { storageKeys } from '../../platform/storage/keys';
import {
  type AddressPolicy,
  checkUrlAgainstPolicy,
  inputAddressPolicy,
  redactUrl,
  redactUrlsIn,
  UrlPolicyError,
} from '../net/address-policy';
import { startPolicyProxy } from '../net/policy-proxy';
import { repoPath } from '../../platform/repo-root';

function chipScript(): string {
  const script = repoPath('python', 'stac_chip.py');
  if (!fs.existsSync(script)) throw new Error(`${script} not found`);
  return script;
}

/** Stored next to the chip (storageKeys.taskChipMetadata); post-processing reads `classification`. */
export interface ChipMetadata {
  data_source: string;
  collection: string | undefined;
  item_id: string;
  datetime: string | null;
  cloud_cover: number | undefined;
  classification: ClassificationScheme | null;
  classification_key: string | null;
  crs: string;
  transform: number[];
  width: number;
  height: number;
  /** Time series chips: every frame's scene, oldest first (`item_id`, `datetime`, ... above are the newest frame's). */
  frames?: ChipFrame[];
}

/** One frame of a time series chip: its target date and the scene picked for it. */
export interface ChipFrame {
  frame: number;
  target_date: string;
  item_id: string;
  collection: string | undefined;
  datetime: string | null;
  cloud_cover: number | undefined;
}

/** What the data-fetch step stored as a task's input, whatever its source. */
export interface StoredInputSummary {
  inputKey: string;
  bytes: number;
  width: number;
  height: number;
  bands: number;
  epsg: number | null;
}

export interface StacChipResult extends StoredInputSummary {
  item_id: string;
  collection: string | undefined;
  datetime: string | null;
  cloud_cover: number | undefined;
  items_found: number;
  pages: number;
  classification_key: string | null;
}

export interface ChipSummary {
  width: number;
  height: number;
  bands: number;
  crs: string;
  epsg: number | null;
  transform: number[];
  valid_fraction: number;
  classification_values?: Record<string, number>;
  /** Per frame of a time series chip. */
  frame_valid_fractions?: number[];
}

/**
 * Runs python/stac_chip.py with a JSON request; exit code 2 = the input's fault (not retried). With a
 * `policy`, GDAL's HTTP goes through a loopback proxy that checks every connection against it (redirect
 * hops and DNS rebinding included); a refused connection fails the input. Messages carry URLs without
 * credentials.
 */
export async function runChipScript<T>(
  config: Pick<AppConfig, 'PYTHON_BIN'>,
  request: Record<string, unknown>,
  env: Record<string, string> = {},
  signal?: AbortSignal,
  policy?: AddressPolicy,
): Promise<T> {
  const proxy = policy ? await startPolicyProxy(policy) : undefined;
  try {
    return await runChipProcess<T>(config, request, { ...env, ...proxy?.gdalEnv }, signal, !!proxy);
  } catch (error) {
    if (proxy && proxy.refused.length > 0)
      throw invalidInput(`a connection was refused by the address policy: ${redactUrlsIn(proxy.refused[0])}`);
    throw error;
  } finally {
    await proxy?.close();
  }
}

function runChipProcess<T>(
  config: Pick<AppConfig, 'PYTHON_BIN'>,
  request: Record<string, unknown>,
  env: Record<string, string>,
  signal: AbortSignal | undefined,
  proxied: boolean,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    // curl honours NO_PROXY even with an explicit proxy: nothing may bypass the policy proxy.
    if (proxied) for (const name of ['NO_PROXY', 'no_proxy']) delete childEnv[name];
    const child = spawn(config.PYTHON_BIN, [chipScript()], {
      env: childEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
    child.on('error', (error) => reject(error));
    child.on('close', (code) => {
      const reason = redactUrlsIn(stderr.trim().split('\n').filter(Boolean).pop() ?? `exit code ${code}`);
      if (code === 0) {
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as T);
        } catch {
          reject(new Error('stac_chip.py printed no result'));
        }
      } else if (code === 2) {
        reject(invalidInput(reason.replace(/^ChipError: /, '')));
      } else {
        reject(StepFailure.retryable(`building the chip failed: ${reason}`, 'ChipBuildError'));
      }
    });
    child.stdin.end(JSON.stringify(request));
  });
}

/**
 * Every href GDAL will open must be an http(s) URL the input policy accepts (the configured STAC APIs'
 * hosts are trusted): a STAC item could otherwise point GDAL at a local file or an internal service.
 */
export async function checkAssetHrefs(
  hrefs: Array<{ asset: string; href: string }>,
  policy: AddressPolicy,
  itemId: string,
): Promise<void> {
  for (const { asset, href } of hrefs) {
    try {
      await checkUrlAgainstPolicy(href, policy);
    } catch (error) {
      if (!(error instanceof UrlPolicyError)) throw error;
      throw invalidInput(`asset ${asset} of scene ${itemId} (${redactUrl(href)}) ${error.message}`);
    }
  }
}

/** The input policy with the configured STAC APIs' hosts trusted (they are the operator's choice). */
export function stacAddressPolicy(config: StacFetchSettings): AddressPolicy {
  const hosts = [config.STAC_API_URL, config.HLS_STAC_API_URL].map((url) => new URL(url).hostname);
  return inputAddressPolicy(config, hosts);
}

/** The settings fetchStacChip reads: the imagery sources' and the search limits. */
export type StacFetchSettings = ImagerySourceSettings &
  Pick<
    AppConfig,
    | 'PYTHON_BIN'
    | 'STAC_COLLECTION'
    | 'STAC_PAGE_LIMIT'
    | 'STAC_MAX_PAGES'
    | 'FETCH_TIMEOUT_MS'
    | 'STAC_API_URL'
    | 'HLS_STAC_API_URL'
    | 'fetchAllowPrivateAddresses'
    | 'allowedInternalHosts'
  >;

/**
 * The data-fetch step of a bbox x date task: search the data source's STAC API, pick the least cloudy item
 * covering the area within maxcc, and store a chip of the model's bands (and the classification band).
 */
export async function fetchStacChip(
  input: StacTaskInput,
  ids: { inferenceId: string; taskId: string },
  deps: { config: StacFetchSettings; store: ObjectStore },
  spec: ModelInputDataSpec,
  dir: string,
  log: StepLogger,
  heartbeat: (details: unknown) => void,
  signal?: AbortSignal,
): Promise<StacChipResult> {
  const { config } = deps;
  const bandNames = spec.bands.map((band) => band.name);
  const policy = stacAddressPolicy(config);
  let found: SceneSearchResult;
  try {
    found = await findScene(input, bandNames, config, {
      onSearch: (description) => log.info(description),
      checkNextLink: (url) => checkUrlAgainstPolicy(url, policy),
      onPage: (page, items) => {
        log.info(`page ${page}: ${items} item(s)`);
        heartbeat({ stac_page: page });
      },
    });
  } catch (error) {
    throw stacSearchFailure(error);
  }
  const { scene: original, source, authHeaders } = found;
  log.info(`${found.itemsFound} item(s) in ${found.pages} page(s), ${found.withinMaxcc} within maxcc ${input.maxcc}%`);
  if (!original) throw invalidInput(found.reason!);
  const { keys } = assetKeysForBands(source, original.collection, bandNames, original);
  const classKey = classificationAssetKey(source, original.collection);
  const classAsset = classKey ? original.assets[classKey] : undefined;
  log.info(
    `picked ${original.collection}/${original.id} (${original.properties.datetime}, cloud cover ${cloudCover(original)}%), assets ${keys.join(', ')}${classAsset ? ` + ${classKey}` : ''}`,
  );

  await checkAssetHrefs(
    [
      ...keys.map((key) => ({ asset: key, href: original.assets[key].href })),
      ...(classAsset && classKey ? [{ asset: classKey, href: classAsset.href }] : []),
    ],
    policy,
    original.id,
  );
  const chipFile = path.join(dir, 'chip.tif');
  const classFile = path.join(dir, 'classification.tif');
  const resolution = spec.resolution ?? DEFAULT_CHIP_RESOLUTION_M;
  const ticker = setInterval(() => heartbeat({ building_chip: original.id }), 10_000);
  let summary: ChipSummary;
  try {
    summary = await runChipScript<ChipSummary>(
      config,
      {
        command: 'chip',
        bbox: input.bbox,
        geometry: input.geometry ?? null,
        resolution,
        nodata: spec.nodata ?? 0,
        // Each model band goes where model-inference reads it (source_index, default its position).
        bands: spec.bands.map((band, index) => ({
          position: band.source_index ?? index + 1,
          href: original.assets[keys[index]].href,
          name: band.name,
        })),
        out_chip: chipFile,
        classification: classAsset
          ? { href: classAsset.href, nodata: source.classification.nodata, out: classFile }
          : null,
      },
      authHeaders.Authorization ? { GDAL_HTTP_HEADERS: `Authorization: ${authHeaders.Authorization}` } : {},
      signal,
      policy,
    );
  } finally {
    clearInterval(ticker);
  }
  log.info(
    `chip ${summary.width}x${summary.height} x ${summary.bands} band(s) at ${resolution} m in ${summary.crs}, ${(summary.valid_fraction * 100).toFixed(1)}% with data`,
  );
  if (summary.valid_fraction === 0) {
    throw invalidInput(`scene ${original.id} has no data over ${input.area_label} (the area is outside its footprint)`);
  }
  if (classAsset) log.info(`classification ${classKey} values ${JSON.stringify(summary.classification_values ?? {})}`);
  return storeChip(deps, ids, { chipFile, classFile: classAsset ? classFile : null, summary }, found, {
    data_source: input.data_source,
    collection: original.collection,
    item_id: original.id,
    datetime: original.properties.datetime ?? null,
    cloud_cover: cloudCover(original),
    classification: classAsset ? source.classification.scheme : null,
  });
}

/** What a chip's metadata says of its scene(s); storeChip adds where the files went and the grid. */
export type ChipSceneMetadata = Omit<ChipMetadata, 'classification_key' | 'crs' | 'transform' | 'width' | 'height'>;

/**
 * Stores a built chip (and its classification band(s), when built) as the task's input, its metadata beside it,
 * and answers the data-fetch step's result for it.
 */
export async function storeChip(
  deps: { store: ObjectStore },
  ids: { inferenceId: string; taskId: string },
  chip: { chipFile: string; classFile: string | null; summary: ChipSummary },
  search: { itemsFound: number; pages: number },
  scenes: ChipSceneMetadata,
): Promise<StacChipResult & { frames?: ChipFrame[] }> {
  const { summary } = chip;
  const inputKey = storageKeys.taskInput(ids.inferenceId, ids.taskId);
  await deps.store.putFile(inputKey, chip.chipFile, { contentType: 'image/tiff' });
  let classificationKey: string | null = null;
  if (chip.classFile) {
    classificationKey = storageKeys.taskClassification(ids.inferenceId, ids.taskId);
    await deps.store.putFile(classificationKey, chip.classFile, { contentType: 'image/tiff' });
  }
  const metadata: ChipMetadata = {
    ...scenes,
    classification_key: classificationKey,
    crs: summary.crs,
    transform: summary.transform,
    width: summary.width,
    height: summary.height,
  };
  await deps.store.putObject(
    storageKeys.taskChipMetadata(ids.inferenceId, ids.taskId),
    Buffer.from(JSON.stringify(metadata)),
    { contentType: 'application/json' },
  );
  return {
    inputKey,
    bytes: fs.statSync(chip.chipFile).size,
    width: summary.width,
    height: summary.height,
    bands: summary.bands,
    epsg: summary.epsg,
    item_id: scenes.item_id,
    collection: scenes.collection,
    datetime: scenes.datetime,
    cloud_cover: scenes.cloud_cover,
    items_found: search.itemsFound,
    pages: search.pages,
    classification_key: classificationKey,
    ...(scenes.frames ? { frames: scenes.frames } : {}),
  };
}

/** A failed STAC search: the API's 4xx (but timeouts and rate limits) is the input's fault, the rest is retried. */
export function stacSearchFailure(error: unknown): StepFailure {
  if (
    error instanceof StacApiError &&
    error.status !== null &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 408 &&
    error.status !== 429
  )
    return invalidInput(error.message);
  return StepFailure.retryable((error as Error).message, 'TransientFetchError');
}
