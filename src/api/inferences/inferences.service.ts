import { Inject, Injectable, Logger } from '@nestjs/common';
import type { z } from 'zod';
import type { InferenceWorkflowState } from '../../../workflows/contract/types';
import type { AppConfig } from '../../platform/config/config';
import type { InferenceEntity } from '../../platform/database/entities';
import { InferencesRepository, TasksRepository } from '../../platform/database/repositories';
import { PipelineClient } from '../../pipeline/client';
import { APP_CONFIG } from '../config.module';
import { ApiError } from '../http/api-error';
import { TilesService } from '../tiles/tiles.service';
import { inferenceView, taskView } from './inference-views';
import type { listInferencesQuerySchema } from './inferences.dto';
import { ownedInference } from './owned-inference';
export { countTasks } from '../../../workflows/contract/task-counts';
export { taskId } from './task-inputs';

/** How long reading a running inference waits for the workflow's live state before serving the DB projection. */
export const LIVE_QUERY_TIMEOUT_MS = 3000;

export type ListInferencesQuery = z.infer<typeof listInferencesQuerySchema>;

/** Reading inferences: lists, one inference, and its tasks with the live state of a running workflow. */
@Injectable()
export class InferencesService {
  private readonly logger = new Logger(InferencesService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly inferences: InferencesRepository,
    private readonly tasks: TasksRepository,
    private readonly pipeline: PipelineClient,
    private readonly tiles: TilesService,
  ) {}

  async list(query: ListInferencesQuery, user: string) {
    const { limit, offset, status, model_id, model_display_name, created_by } = query;
    // API keys see their own user's inferences only; naming another user is refused rather than answered empty.
    if (created_by !== undefined && created_by !== user) {
      throw new ApiError(
        403,
        `created_by: this API key belongs to ${user} and can only list that user's inferences`,
        'created_by',
      );
    }
    const [rows, total] = await this.inferences.list(
      { createdBy: user, status, modelId: model_id, modelDisplayName: model_display_name },
      limit,
      offset,
    );
    const statuses = await this.tasks.statusesFor(rows.map((row) => row.id));
    return {
      results: rows.map((row) => inferenceView(this.config, row, statuses.get(row.id) ?? [])),
      total_records: total,
    };
  }

  async get(id: string, user: string) {
    const inference = await ownedInference(this.inferences, id, user);
    // Counts come from the DB projection, written at every task change: answering never waits on a busy
    // worker for a workflow query (GET .../tasks serves the live step detail).
    const statuses = (await this.tasks.statusesFor([inference.id])).get(inference.id) ?? [];
    return inferenceView(this.config, inference, statuses);
  }

  /** The tasks with their steps; while the inference runs, as the workflow knows them now. */
  async tasksOf(id: string, user: string) {
    const inference = await ownedInference(this.inferences, id, user);
    const rows = await this.tasks.listFor(inference.id);
    // Batched inferences run their tasks in child workflows, which project every step change to the DB;
    // the parent's query only knows finished batches, so the DB is the better source for them.
    const live = rows.length > this.config.INFERENCE_BATCH_TASKS ? undefined : await this.liveState(inference);
    const liveById = new Map((live?.tasks ?? []).map((task) => [task.task_id, task]));
    const tasks = rows.map((row) => {
      const task = taskView(row, liveById.get(row.taskId));
      // XYZ tiles of the output for map clients, with a fresh signed token (tiles.controller.ts).
      const template = task.output_key ? this.tiles.urlTemplate(task.task_id, inference.tokenGeneration) : undefined;
      const hasPreview = Boolean(
        (row.outputs?.results as { input_preview_key?: string } | undefined)?.input_preview_key,
      );
      return {
        ...task,
        ...(template ?? { tile_url_template: null, map_url: null }),
        // The input preview as its own tile layer, beside the prediction (same token).
        ...(template && hasPreview
          ? { input_preview_tile_url_template: `${template.tile_url_template}&layer=input-preview` }
          : {}),
      };
    });
    return { inference_id: inference.id, status: live?.status ?? inference.status, tasks, total_records: tasks.length };
  }

  /** Live workflow state while the inference runs (undefined, so the DB projection is served, if Temporal is slow). */
  private async liveState(inference: InferenceEntity): Promise<InferenceWorkflowState | undefined> {
    if (inference.status !== 'PENDING' && inference.status !== 'RUNNING') return undefined;
    try {
      // A query waits for a worker to answer; with no worker polling it would wait (and retry) for long.
      return await this.pipeline.queryStatus(inference.workflowId, LIVE_QUERY_TIMEOUT_MS);
    } catch (error) {
      this.logger.warn(
        `status query of ${inference.id} failed, serving the DB projection: ${(error as Error).message}`,
      );
      return undefined;
    }
  }
}
