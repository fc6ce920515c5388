import { Inject, Injectable } from '@nestjs/common';
import { findScene } from '../../geo/stac/scene-search';
import { cloudCover, StacApiError } from '../../geo/stac/stac';
import { planSteps } from '../../../workflows/contract/steps';
import type { StacTaskInput, TaskInput } from '../../../workflows/contract/types';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import type { DryRunTask, DryRunView } from './dry-run.schema';
import { InferenceCreationService } from './inference-creation.service';
import type { CreateInferenceRequest } from './inferences.dto';

/** STAC searches of one dry run that run at the same time (each may follow several pages). */
const SEARCH_CONCURRENCY = 4;

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
    const worker = async () => {
      while (next < inputs.length) {
        const index = next++;
        tasks[index] = await this.describeTask(index, inputs[index]!, bandNames);
      }
    };
    await Promise.all(Array.from({ length: Math.min(SEARCH_CONCURRENCY, inputs.length) }, worker));
    const available = tasks.filter((task) => task.available).length;
    return {
      dry_run: true,
      model_id: model.id,
      model_display_name: model.displayName,
      model_version: model.version,
      steps: planSteps({ genericProcessor: prepared.processor !== undefined }),
      tasks_count_total: tasks.length,
      tasks_available: available,
      tasks_unavailable: tasks.length - available,
      tasks,
    };
  }

  private async describeTask(index: number, input: TaskInput, bandNames: string[]): Promise<DryRunTask> {
    const base = { task_index: index, input: { ...input } as Record<string, unknown> };
    if (input.kind !== 'stac')
      return { ...base, scene: null, scenes_found: null, scenes_within_maxcc: null, available: true, reason: null };
    return { ...base, ...(await this.sceneFor(input, bandNames)) };
  }

  private async sceneFor(input: StacTaskInput, bandNames: string[]): Promise<Omit<DryRunTask, 'task_index' | 'input'>> {
    try {
      const found = await findScene(input, bandNames, this.config);
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
