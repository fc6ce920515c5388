/**
 * Time series chips of bbox / polygon / tile x date tasks for models with a `temporal` spec (docs/temporal.md).
 *
 * Target dates follow InstaGeo's chip creator: they step back in time from the requested date, `temporal_step`
 * days apart (frame k of T is `date - (T - 1 - k) * temporal_step`), so the newest frame is the requested date
 * and the model sees the history that led up to it. Frames are stacked oldest first. Frame k's scene is the least
 * cloudy one within maxcc covering the area and acquired within +/- `temporal_tolerance` whole days of its target
 * date; among equally cloudy scenes the one nearest the target's midday wins.
 */
import * as path from 'node:path';
import { DEFAULT_CHIP_RESOLUTION_M, type ModelInputDataSpec } from '../../../workflows/contract/model-spec';
import type { StacTaskInput, TaskTemporal } from '../../../workflows/contract/types';
import { invalidInput } from '../../../workflows/contract/errors';
import type { ObjectStore } from '../../platform/storage/object-store';
import { checkUrlAgainstPolicy } from '../net/address-policy';
import type { StepLogger } from '../step-logger';
import { findScene, type SceneSearchResult, type SceneSearchSettings } from './scene-search';
import { assetKeysForBands, classificationAssetKey, cloudCover, type StacItem } from './stac';
import {
  checkAssetHrefs,
  runChipScript,
  stacAddressPolicy,
  stacSearchFailure,
  storeChip,
  type ChipFrame,
  type ChipSummary,
  type StacChipResult,
  type StacFetchSettings,
} from './stac-fetch';
import { parseTemporalEntry } from './temporal-domain';

const DAY_MS = 86_400_000;

export interface FrameTarget {
  frame: number;
  /** YYYY-MM-DD */
  target_date: string;
  /** The frame's search window: target day - tolerance 00:00Z to target day + tolerance end of day. */
  datetime: string;
  /** Midday of the target day (ms): ties in cloud cover go to the scene nearest it. */
  center: number;
}

/** The requested day a task's frames step back from: the entry's date, or the end day of an interval. */
function anchorDay(date: string): number {
  const end = parseTemporalEntry(date).end;
  return Date.UTC(end.getUTCFullYear(), end.getUTCMonth(), end.getUTCDate());
}

/** The target dates of a task's frames, oldest first (see the top of this file). */
export function frameTargets(date: string, temporal: TaskTemporal): FrameTarget[] {
  const anchor = anchorDay(date);
  return Array.from({ length: temporal.num_steps }, (_, frame) => {
    const day = anchor - (temporal.num_steps - 1 - frame) * temporal.temporal_step * DAY_MS;
    const start = new Date(day - temporal.temporal_tolerance * DAY_MS);
    const end = new Date(day + (temporal.temporal_tolerance + 1) * DAY_MS - 1);
    return {
      frame,
      target_date: new Date(day).toISOString().slice(0, 10),
      datetime: `${start.toISOString()}/${end.toISOString()}`,
      center: day + DAY_MS / 2,
    };
  });
}

export interface FrameSearch {
  target: FrameTarget;
  found: SceneSearchResult;
  /** Why no scene fits this frame (target date, tolerance, maxcc, what was found); set exactly when none does. */
  reason?: string;
}

/** The scene of every frame of a task (the data-fetch step and the dry run both use this). Throws StacApiError. */
export async function findFrameScenes(
  input: StacTaskInput & { temporal: TaskTemporal },
  bandNames: string[],
  config: SceneSearchSettings,
  options: Parameters<typeof findScene>[3] = {},
): Promise<FrameSearch[]> {
  const targets = frameTargets(input.date, input.temporal);
  const searches: FrameSearch[] = [];
  for (const target of targets) {
    const found = await findScene({ ...input, datetime: target.datetime }, bandNames, config, {
      ...options,
      closestTo: target.center,
    });
    const search: FrameSearch = { target, found };
    if (!found.scene) {
      search.reason =
        `frame ${target.frame + 1} of ${targets.length}: no ${found.source.label} scene covers ${input.area_label} within ` +
        `+/- ${input.temporal.temporal_tolerance} day(s) of target date ${target.target_date} with cloud cover <= maxcc ${input.maxcc}% ` +
        `(${found.itemsFound} scene(s) found in ${target.datetime}, ${found.withinMaxcc} within maxcc)`;
    }
    searches.push(search);
  }
  return searches;
}

/** The frame entry of a picked scene. */
export function chipFrame(target: FrameTarget, scene: StacItem): ChipFrame {
  return {
    frame: target.frame,
    target_date: target.target_date,
    item_id: scene.id,
    collection: scene.collection,
    datetime: scene.properties.datetime ?? null,
    cloud_cover: cloudCover(scene),
  };
}

/** Result of a time series chip: the newest frame's scene as for one date, and every frame. */
export interface StacSeriesResult extends StacChipResult {
  frames: ChipFrame[];
}

/**
 * The data-fetch step of a time series task: one scene per frame (findFrameScenes), every frame read onto the
 * grid of the first (oldest) frame's CRS at the model's resolution, stored as one time-major GeoTIFF, with one
 * classification band per frame when the source has one.
 */
export async function fetchStacSeries(
  input: StacTaskInput & { temporal: TaskTemporal },
  ids: { inferenceId: string; taskId: string },
  deps: { config: StacFetchSettings; store: ObjectStore },
  spec: ModelInputDataSpec,
  dir: string,
  log: StepLogger,
  heartbeat: (details: unknown) => void,
  signal?: AbortSignal,
): Promise<StacSeriesResult> {
  const { config } = deps;
  const bandNames = spec.bands.map((band) => band.name);
  const policy = stacAddressPolicy(config);
  let searches: FrameSearch[];
  try {
    searches = await findFrameScenes(input, bandNames, config, {
      onSearch: (description) => log.info(description),
      checkNextLink: (url) => checkUrlAgainstPolicy(url, policy),
      onPage: (page, items) => heartbeat({ stac_page: page, items }),
    });
  } catch (error) {
    throw stacSearchFailure(error);
  }
  for (const search of searches) {
    const scene = search.found.scene;
    log.info(
      `frame ${search.target.frame + 1} target ${search.target.target_date}: ` +
        (scene
          ? `picked ${scene.collection}/${scene.id} (${scene.properties.datetime}, cloud cover ${cloudCover(scene)}%)`
          : 'no scene'),
    );
  }
  const missing = searches.find((search) => !search.found.scene);
  if (missing) throw invalidInput(missing.reason!);
  const { source, authHeaders } = searches[0]!.found;
  const frames = [];
  for (const search of searches) {
    const scene = search.found.scene!;
    const { keys } = assetKeysForBands(source, scene.collection, bandNames, scene);
    const classKey = classificationAssetKey(source, scene.collection);
    const classAsset = classKey ? scene.assets[classKey] : undefined;
    await checkAssetHrefs(
      [
        ...keys.map((key) => ({ asset: key, href: scene.assets[key].href })),
        ...(classAsset && classKey ? [{ asset: classKey, href: classAsset.href }] : []),
      ],
      policy,
      scene.id,
    );
    frames.push({
      bands: spec.bands.map((band, index) => ({
        position: band.source_index ?? index + 1,
        href: scene.assets[keys[index]!]!.href,
        name: band.name,
      })),
      classification: classAsset ? { href: classAsset.href, nodata: source.classification.nodata } : null,
    });
  }
  const chipFile = path.join(dir, 'chip.tif');
  const classFile = path.join(dir, 'classification.tif');
  const resolution = spec.resolution ?? DEFAULT_CHIP_RESOLUTION_M;
  const ticker = setInterval(() => heartbeat({ building_chip: `${frames.length} frames` }), 10_000);
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
        frames,
        out_chip: chipFile,
        classification_out: classFile,
      },
      authHeaders.Authorization ? { GDAL_HTTP_HEADERS: `Authorization: ${authHeaders.Authorization}` } : {},
      signal,
      policy,
    );
  } finally {
    clearInterval(ticker);
  }
  log.info(
    `chip ${summary.width}x${summary.height} x ${summary.bands} band(s) (${frames.length} frames, time-major) at ${resolution} m in ${summary.crs}`,
  );
  const emptyFrame = (summary.frame_valid_fractions ?? []).findIndex((fraction) => fraction === 0);
  if (emptyFrame >= 0) {
    const scene = searches[emptyFrame]!.found.scene!;
    throw invalidInput(
      `frame ${emptyFrame + 1} (target date ${searches[emptyFrame]!.target.target_date}): scene ${scene.id} has no data over ${input.area_label} (the area is outside its footprint)`,
    );
  }
  const chipFrames = searches.map((search) => chipFrame(search.target, search.found.scene!));
  const newest = chipFrames[chipFrames.length - 1]!;
  const hasClassification = frames.some((frame) => frame.classification);
  const stored = await storeChip(
    deps,
    ids,
    { chipFile, classFile: hasClassification ? classFile : null, summary },
    {
      itemsFound: searches.reduce((sum, search) => sum + search.found.itemsFound, 0),
      pages: searches.reduce((sum, search) => sum + search.found.pages, 0),
    },
    {
      data_source: input.data_source,
      collection: newest.collection,
      item_id: newest.item_id,
      datetime: newest.datetime,
      cloud_cover: newest.cloud_cover,
      classification: hasClassification ? source.classification.scheme : null,
      frames: chipFrames,
    },
  );
  return { ...stored, frames: chipFrames };
}
