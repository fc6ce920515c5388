import { Inject, Injectable } from '@nestjs/common';
import type { GeoTIFF } from 'geotiff';
import { LRUCache } from 'lru-cache';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import { InferencesRepository, ModelsRepository, TasksRepository } from '../../platform/database/repositories';
import { resolveUrlSigningSecret } from '../../platform/storage/filesystem-object-store';
import type { ObjectStore } from '../../platform/storage/object-store';
import { OBJECT_STORE } from '../../platform/storage/tokens';
import { openStoredGeoTiff } from '../../geo/tiles/open-output';
import { classColourMap, TileRenderer, type ColourMap } from '../../geo/tiles/cog-tiles';
import { signTileToken, verifyTileToken, type TileTokenCheck } from '../../geo/tiles/tile-token';
import { TokenGenerations } from '../auth/token-generations';
import { maskNodata, regressionNodata, taskTypeOf } from '../../../workflows/contract/model-spec';
import { displayRange, legendOf, rampColourMap, type Legend } from '../../geo/tiles/legend';

/** The tile layers of a task: its prediction (class colours) and the true-colour preview of its input. */
export const TILE_LAYERS = ['prediction', 'input-preview'] as const;
export type TileLayer = (typeof TILE_LAYERS)[number];

interface TileTask {
  taskId: string;
  outputKey: string;
  /** The results export's input preview COG, when there is one. */
  inputPreviewKey: string | null;
  /** Cache identity of the output: a rerun that rewrites the same key updates the task, so caches miss. */
  rasterId: string;
  /** Colours and legend of each band (index 0: band 1); a class mask has one. */
  colours: ColourMap[];
  legend: Legend[];
}

export class TileNotFoundError extends Error {}

/** A `band` the task's output does not have (400 naming `band`). */
export class TileBandError extends Error {}

/**
 * Map tiles of task outputs: tile URL templates with a signed token, token checks, and rendering through
 * one process-wide TileRenderer (its caches are what make warm tiles fast).
 */
@Injectable()
export class TilesService {
  readonly renderer: TileRenderer;
  private readonly secret: string;
  // Task -> output key and colours, briefly cached: a map view asks for dozens of tiles at once.
  private readonly tasks = new LRUCache<string, TileTask>({ max: 1000, ttl: 30_000 });

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly taskRows: TasksRepository,
    private readonly inferences: InferencesRepository,
    private readonly models: ModelsRepository,
    private readonly generations: TokenGenerations,
  ) {
    this.secret = resolveUrlSigningSecret(config);
    this.renderer = new TileRenderer({ blockCacheBytes: config.TILE_CACHE_MB * 1024 * 1024 });
  }

  /**
   * XYZ template (`{z}/{x}/{y}` left for the map client) and map page URL, with a token valid TILE_TOKEN_TTL_SECONDS
   * signed with the inference's token generation (TokenGenerations).
   */
  urlTemplate(
    taskId: string,
    generation: number,
    now = Date.now(),
  ): { tile_url_template: string; tile_url_expires_at: string; map_url: string } {
    const expires = Math.floor(now / 1000) + this.config.TILE_TOKEN_TTL_SECONDS;
    const token = signTileToken(taskId, expires, this.secret, generation);
    return {
      tile_url_template: `${this.config.publicBaseUrl}/tiles/${encodeURIComponent(taskId)}/{z}/{x}/{y}.png?token=${token}`,
      tile_url_expires_at: new Date(expires * 1000).toISOString(),
      map_url: `${this.config.publicBaseUrl}/map/${encodeURIComponent(taskId)}?token=${token}`,
    };
  }

  /** Checks a tile token against the task's inference's current token generation (revoked tokens fail). */
  async checkToken(taskId: string, token: unknown): Promise<TileTokenCheck> {
    if (token === undefined || token === '') return verifyTileToken(taskId, token, this.secret);
    return verifyTileToken(taskId, token, this.secret, undefined, await this.generations.ofTask(taskId));
  }

  async task(taskId: string): Promise<TileTask> {
    const cached = this.tasks.get(taskId);
    if (cached) return cached;
    const task = await this.taskRows.findById(taskId);
    if (!task) throw new TileNotFoundError(`task ${taskId} not found`);
    if (!task.outputKey) throw new TileNotFoundError(`task ${taskId} has no output yet (status ${task.status})`);
    const inference = await this.inferences.findById(task.inferenceId);
    const model = inference && (await this.models.findById(inference.modelId));
    const spec = model?.modelInputDataSpec;
    // Regression outputs: each band's colormap over rescale, else over that band's values' range of the step result.
    const stats =
      (
        task.outputs?.['model-inference'] as
          { value_stats?: Array<{ min: number | null; max: number | null }> } | undefined
      )?.value_stats ?? [];
    const regression = spec !== undefined && taskTypeOf(spec) === 'regression';
    const bands = regression ? Math.max(1, stats.length, spec.output_bands?.length ?? 0) : 1;
    const entry = {
      taskId,
      outputKey: task.outputKey,
      inputPreviewKey: (task.outputs?.results as { input_preview_key?: string } | undefined)?.input_preview_key ?? null,
      rasterId: `${task.outputKey}@${task.updatedAt.getTime()}`,
      colours: Array.from({ length: bands }, (_, band) =>
        regression
          ? rampColourMap(spec.colormap, displayRange(spec, stats[band]), regressionNodata(spec))
          : classColourMap(spec?.classes ?? [], maskNodata(spec ?? {})),
      ),
      legend: Array.from({ length: bands }, (_, band) =>
        spec ? legendOf(spec, stats[band]) : legendOf({ bands: [], tile_size: 1, tile_overlap: 0, classes: [] }),
      ),
    };
    this.tasks.set(taskId, entry);
    return entry;
  }

  /**
   * The legend of band `band` (1-based) of a task's prediction layer: class swatches or a colorbar (JSON;
   * legendPng draws it). TileBandError for a band the output does not have.
   */
  async legend(taskId: string, band = 1): Promise<Legend> {
    const legends = (await this.task(taskId)).legend;
    return legends[checkedBand(band, legends.length) - 1]!;
  }

  /** Bounds and zoom range of a task's output (the map page fits its view to them). */
  async tileSet(taskId: string) {
    const task = await this.task(taskId);
    return (await this.renderer.raster(task.rasterId, () => this.openOutput(task.outputKey))).info;
  }

  async tile(
    taskId: string,
    z: number,
    x: number,
    y: number,
    layer: TileLayer = 'prediction',
    /** 1-based band of the prediction to draw (multi-band regression outputs). */
    band = 1,
  ): Promise<{ png: Buffer; level: number }> {
    const task = await this.task(taskId);
    if (layer === 'input-preview') {
      const key = task.inputPreviewKey;
      if (!key)
        throw new TileNotFoundError(`task ${taskId} has no input preview (it is written when the inference ends)`);
      const preview = await this.renderer.raster(`${key}@${task.rasterId}`, () => this.openOutput(key));
      return this.renderer.renderRgbaPng(preview, z, x, y);
    }
    const raster = await this.renderer.raster(task.rasterId, () => this.openOutput(task.outputKey));
    // The raster's own band count: a processor's output may have other bands than the model's.
    checkedBand(band, raster.bands);
    const colours = task.colours[band - 1] ?? task.colours[task.colours.length - 1]!;
    return this.renderer.renderPng(raster, z, x, y, colours, band - 1);
  }

  private async openOutput(key: string): Promise<GeoTIFF> {
    if (!(await this.store.exists(key))) throw new TileNotFoundError(`the output ${key} no longer exists`);
    return openStoredGeoTiff(this.store, key);
  }
}

function checkedBand(band: number, bands: number): number {
  if (!Number.isInteger(band) || band < 1 || band > bands)
    throw new TileBandError(`band: ${band} is not a band of this output (1-${bands})`);
  return band;
}
