import { Inject, Injectable } from '@nestjs/common';
import { findScene } from '../../geo/stac/scene-search';
import { cloudCover, StacApiError, type StacItem } from '../../geo/stac/stac';
import { findFrameScenes } from '../../geo/stac/stac-series';
import { stacAddressPolicy } from '../../geo/stac/stac-fetch';
import { checkUrlAgainstPolicy } from '../../geo/net/address-policy';
import { planSteps } from '../../../workflows/contract/steps';
import type { StacTaskInput, TaskInput, TaskTemporal } from '../../../workflows/contract/types';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import type { DryRunTask, DryRunView } from './dry-run.schema';
import { InferenceCreationService } from './inference-creation.service';
import type { CreateInferenceRequest } from './inferences.dto';

/** STAC searches of one dry run that run at the same time (each may follow several pages). */
const SEARCH_CONCURRENCY = 4;
/** Area x date tasks a dry run searches scenes for; the rest are listed unsearched, to bound one request's load. */
export const DRY_RUN_MAX_SEARCHES = 500;

/**
 * POST /api/v2/inference/dry-run: validates the body exactly as a create does (same 4xx), then answers the tasks
 * that would run and, for areas, the scene each would use, found by the same search and choice as the data-fetch
 * step (findScene). Stores nothing, starts nothing.
 */
@Injectable()
export class InferenceDryRunService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly creation: InferenceCreationService,
  ) {}

  async dryRun(request: CreateInferenceRequest, createdBy: string): Promise<DryRunView> {
    const { prepared, inputs } = await this.creation.validate(request, createdBy);
    const { model } = prepared;
    const bandNames = model.modelInputDataSpec.bands.map((band) => band.name);
    const tasks = new Array<DryRunTask>(inputs.length);
    let next = 0;
    let searches = 0;
    const worker = async () => {
      while (next < inputs.length) {
        const index = next++;
        const input = inputs[index]!;
        const search = input.kind === 'stac' && searches++ < DRY_RUN_MAX_SEARCHES;
        tasks[index] = await this.describeTask(index, input, bandNames, search);
      }
    };
    await Promise.all(Array.from({ length: Math.min(SEARCH_CONCURRENCY, inputs.length) }, worker));
    const available = tasks.filter((task) => task.available === true).length;
    const unavailable = tasks.filter((task) => task.available === false).length;
    return {
      dry_run: true,
      model_id: model.id,
      model_display_name: model.displayName,
      model_version: model.version,
      steps: planSteps({ genericProcessor: prepared.processor !== undefined }),
      tasks_count_total: tasks.length,
      tasks_available: available,
      tasks_unavailable: unavailable,
      tasks,
    };
  }

  private async describeTask(
    index: number,
    input: TaskInput,
    bandNames: string[],
    search: boolean,
  ): Promise<DryRunTask> {
    const base = { task_index: index, input: { ...input } as Record<string, unknown> };
    const unsearched = { scene: null, scenes_found: null, scenes_within_maxcc: null };
    if (input.kind !== 'stac') return { ...base, ...unsearched, available: true, reason: null };
    if (!search) {
      return {
        ...base,
        ...unsearched,
        available: null,
        reason: `not searched: a dry run looks up scenes for the first ${DRY_RUN_MAX_SEARCHES} area x date tasks`,
      };
    }
    return { ...base, ...(await this.sceneFor(input, bandNames)) };
  }

  /** A time series task: the scene of every frame, found as the data-fetch step finds them (findFrameScenes). */
  private async framesFor(
    input: StacTaskInput & { temporal: TaskTemporal },
    bandNames: string[],
  ): Promise<Omit<DryRunTask, 'task_index' | 'input'>> {
    const policy = stacAddressPolicy(this.config);
    const searches = await findFrameScenes(input, bandNames, this.config, {
      checkNextLink: (url) => checkUrlAgainstPolicy(url, policy),
    });
    const view = (scene: StacItem | undefined) =>
      scene
        ? {
            item_id: scene.id,
            collection: scene.collection ?? null,
            datetime: scene.properties.datetime ?? null,
            cloud_cover: cloudCover(scene) ?? null,
          }
        : null;
    const missing = searches.find((search) => !search.found.scene);
    return {
      scene: view(searches[searches.length - 1]?.found.scene),
      frames: searches.map((search) => ({
        frame: search.target.frame,
        target_date: search.target.target_date,
        scene: view(search.found.scene),
        reason: search.reason ?? null,
      })),
      scenes_found: searches.reduce((sum, search) => sum + search.found.itemsFound, 0),
      scenes_within_maxcc: searches.reduce((sum, search) => sum + search.found.withinMaxcc, 0),
      available: !missing,
      reason: missing?.reason ?? null,
    };
  }

  private async sceneFor(input: StacTaskInput, bandNames: string[]): Promise<Omit<DryRunTask, 'task_index' | 'input'>> {
    try {
      const policy = stacAddressPolicy(this.config);
      if (input.temporal) return await this.framesFor({ ...input, temporal: input.temporal }, bandNames);
      const found = await findScene(input, bandNames, this.config, {
        checkNextLink: (url) => checkUrlAgainstPolicy(url, policy),
      });
      const { scene } = found;
      return {
        scene: scene
          ? {
              item_id: scene.id,
              collection: scene.collection ?? null,
              datetime: scene.properties.datetime ?? null,
              cloud_cover: cloudCover(scene) ?? null,
            }
          : null,
        scenes_found: found.itemsFound,
        scenes_within_maxcc: found.withinMaxcc,
        available: scene !== undefined,
        reason: found.reason ?? null,
      };
    } catch (error) {
      if (!(error instanceof StacApiError)) throw error;
      // The catalogue failing is an answer about data availability, not a failure of the dry run.
      return {
        scene: null,
        scenes_found: null,
        scenes_within_maxcc: null,
        available: false,
        reason: error.message,
      };
    }
  }
}
