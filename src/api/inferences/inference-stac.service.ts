import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger, type StreamableFile } from '@nestjs/common';
import { streamedDownload } from '../http/streamed-download';
import { stacCollectionUrl, stacItemUrl } from '../../../workflows/contract/links';
import type { AppConfig } from '../../platform/config/config';
import type { InferenceEntity, TaskEntity } from '../../platform/database/entities';
import { InferencesRepository, TasksRepository } from '../../platform/database/repositories';
import { storageKeys } from '../../platform/storage/keys';
import type { ObjectStore } from '../../platform/storage/object-store';
import { concatFlatGeobuf, concatGeoJson } from '../../geo/export/vector-streams';
import { flatGeobufHeader } from '../../geo/export/vector-files';
import { FLATGEOBUF_MEDIA_TYPE, GEOJSON_MEDIA_TYPE } from '../../geo/export/stac-catalog';
import { APP_CONFIG } from '../config.module';
import { OBJECT_STORE } from '../storage.module';
import { ApiError } from '../http/api-error';
import { ownedInference } from './owned-inference';

/** Signed asset URLs in served STAC stay valid this long (as task output URLs). */
const ASSET_URL_TTL_SECONDS = 8 * 60 * 60;

export const VECTOR_FORMATS = ['geojson', 'fgb'] as const;
export type VectorFormat = (typeof VECTOR_FORMATS)[number];

interface StoredTaskResults {
  stac_item_key?: string;
  vectors?: { geojson_key: string; fgb_key: string; features: number } | null;
  provenance?: { chip_grid?: { crs?: string | null } };
}

type JsonObject = Record<string, unknown>;

/**
 * The STAC catalog and vector predictions of an inference, as the results export stored them. Served STAC
 * has absolute links into this API and signed URLs as asset hrefs; the stored catalog keeps relative ones.
 */
@Injectable()
export class InferenceStacService {
  private readonly logger = new Logger(InferenceStacService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly inferences: InferencesRepository,
    private readonly tasks: TasksRepository,
  ) {}

  async collection(id: string, user: string): Promise<JsonObject> {
    const inference = await ownedInference(this.inferences, id, user);
    const key = storageKeys.stacCollection(inference.id);
    const collection = await this.readJson(key, () => this.missingReason(inference, 'STAC catalog'));
    const base = this.config.publicBaseUrl;
    const self = stacCollectionUrl(base, inference.id);
    const links = (collection.links as JsonObject[]).map((link) =>
      link.rel === 'item' && typeof link.href === 'string'
        ? { ...link, href: stacItemUrl(base, inference.id, path.posix.basename(path.posix.dirname(link.href))) }
        : link.rel === 'root'
          ? { ...link, href: self }
          : link,
    );
    return {
      ...collection,
      links: [{ rel: 'self', href: self, type: 'application/json' }, ...links],
      assets: await this.signAssets(key, collection.assets as JsonObject | undefined),
    };
  }

  async item(id: string, taskId: string, user: string): Promise<JsonObject> {
    const inference = await ownedInference(this.inferences, id, user);
    const task = await this.ownedTask(inference, taskId);
    const key = storageKeys.stacItem(inference.id, task.taskId);
    const item = await this.readJson(
      key,
      () => `task ${task.taskId} has no STAC Item: ${this.missingReason(inference, 'Item')}`,
    );
    const base = this.config.publicBaseUrl;
    const collection = stacCollectionUrl(base, inference.id);
    return {
      ...item,
      links: [
        { rel: 'self', href: stacItemUrl(base, inference.id, task.taskId), type: 'application/geo+json' },
        ...(item.links as JsonObject[]).map((link) => ({ ...link, href: collection })),
      ],
      assets: await this.signAssets(key, item.assets as JsonObject | undefined),
    };
  }

  /** Every finished task's polygons as one file: GeoJSON (WGS 84) or FlatGeobuf (needs one CRS for all). */
  async vectors(id: string, user: string, format: unknown, taskId?: string): Promise<StreamableFile> {
    const chosen = parseFormat(format);
    const inference = await ownedInference(this.inferences, id, user);
    const rows = taskId ? [await this.ownedTask(inference, taskId)] : await this.tasks.listFor(inference.id);
    const withVectors = rows
      .map((row) => ({ row, results: row.outputs?.results as StoredTaskResults | undefined }))
      .filter((entry) => entry.results?.vectors);
    if (withVectors.length === 0) {
      const reason = taskId
        ? `task ${taskId} has none (status ${rows[0]!.status}; vectors are written for finished segmentation outputs once the inference ends)`
        : this.missingReason(inference, 'vectors');
      throw ApiError.notFound(`no vector predictions for inference ${inference.id}: ${reason}`);
    }
    const name = `${inference.id}${taskId ? `-${taskId.slice(-8)}` : ''}-vectors.${chosen}`;
    if (chosen === 'geojson') {
      const keys = withVectors.map((entry) => entry.results!.vectors!.geojson_key);
      await this.assertStored(keys);
      const stream =
        keys.length === 1 ? await this.open(keys[0]!) : concatGeoJson(keys.map((key) => () => this.open(key)));
      return streamedDownload(
        stream,
        { type: GEOJSON_MEDIA_TYPE, disposition: `attachment; filename="${name}"` },
        this.logger,
      );
    }
    const crss = [...new Set(withVectors.map((entry) => entry.results!.provenance?.chip_grid?.crs ?? null))];
    if (crss.length > 1)
      throw ApiError.unprocessable(
        `format=fgb: the tasks' outputs are in different CRSs (${crss.join(', ')}) and a FlatGeobuf has one; download each task's (GET .../tasks/{task_id}/vectors?format=fgb) or use format=geojson (WGS 84)`,
        'format',
      );
    const keys = withVectors.map((entry) => entry.results!.vectors!.fgb_key);
    await this.assertStored(keys);
    let stream: Readable;
    if (keys.length === 1) stream = await this.open(keys[0]!);
    else {
      const epsg = crss[0] ? Number(crss[0].replace(/^EPSG:/, '')) : null;
      const features = withVectors.reduce((sum, entry) => sum + entry.results!.vectors!.features, 0);
      stream = concatFlatGeobuf(
        flatGeobufHeader(features, epsg),
        keys.map((key) => () => this.open(key)),
      );
    }
    return streamedDownload(
      stream,
      { type: FLATGEOBUF_MEDIA_TYPE, disposition: `attachment; filename="${name}"` },
      this.logger,
    );
  }

  private async ownedTask(inference: InferenceEntity, taskId: string): Promise<TaskEntity> {
    const task = /^[0-9a-f-]{36}-task-\d{3,}$/.test(taskId) ? await this.tasks.findById(taskId) : null;
    if (!task || task.inferenceId !== inference.id)
      throw ApiError.notFound(`task ${taskId} not found in inference ${inference.id}`);
    return task;
  }

  private missingReason(inference: InferenceEntity, what: string): string {
    return inference.status === 'PENDING' || inference.status === 'RUNNING'
      ? `the inference is ${inference.status}; the ${what} is written when its tasks have finished`
      : inference.status === 'STOPPED'
        ? 'the inference was stopped before its tasks finished'
        : `the inference ended ${inference.status} without one (no task finished, the export failed, or the inference predates STAC exports)`;
  }

  private async readJson(key: string, reason: () => string): Promise<JsonObject> {
    if (!(await this.store.exists(key))) throw ApiError.notFound(reason());
    return JSON.parse((await this.store.getObject(key)).toString('utf8')) as JsonObject;
  }

  /** Every file of a concatenation is checked before the first byte goes out, so a missing one is a plain 404. */
  private async assertStored(keys: string[]): Promise<void> {
    if (keys.length < 2) return;
    for (const key of keys)
      if (!(await this.store.exists(key)))
        throw ApiError.notFound(`the vector file ${path.posix.basename(key)} is no longer in storage`);
  }

  private async open(key: string): Promise<Readable> {
    try {
      return await this.store.getStream(key);
    } catch (error) {
      this.logger.warn(`vectors ${key} unreadable: ${(error as Error).message}`);
      throw ApiError.notFound(`the vector file ${path.posix.basename(key)} is no longer in storage`);
    }
  }

  /** Asset hrefs (relative to the document's key in the static catalog) as signed URLs. */
  private async signAssets(documentKey: string, assets: JsonObject | undefined): Promise<JsonObject> {
    const signed: JsonObject = {};
    for (const [name, asset] of Object.entries(assets ?? {})) {
      const value = asset as JsonObject;
      const key = path.posix.normalize(path.posix.join(path.posix.dirname(documentKey), String(value.href)));
      signed[name] = { ...value, href: await this.store.signedGetUrl(key, ASSET_URL_TTL_SECONDS) };
    }
    return signed;
  }
}

function parseFormat(format: unknown): VectorFormat {
  // A repeated ?format= arrives as an array: refused like any other value that is not one format.
  if (format !== undefined && typeof format !== 'string')
    throw ApiError.badRequest(`format: must be one of ${VECTOR_FORMATS.join(', ')}, given once`, 'format');
  const value = (format ?? 'geojson').toLowerCase();
  const normalised = value === 'flatgeobuf' ? 'fgb' : value;
  if (!(VECTOR_FORMATS as readonly string[]).includes(normalised))
    throw ApiError.badRequest(`format: must be one of ${VECTOR_FORMATS.join(', ')} (got ${format})`, 'format');
  return normalised as VectorFormat;
}
