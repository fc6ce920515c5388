import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, StreamableFile } from '@nestjs/common';
import type { Request } from 'express';
import { CurrentUser } from '../auth/current-user.decorator';
import { ApiError } from '../common/api-error';
import { parseOrThrow } from '../common/zod-validation';
import type { InferenceEntity } from '../database/entities';
import { createInferenceSchema, listInferencesQuerySchema } from './inferences.dto';
import { countTasks } from '../common/task-counts';
import { InferencesService, mergeTaskState } from './inferences.service';
import { TilesService } from '../tiles/tiles.service';

const uuidPipe = new ParseUUIDPipe({ exceptionFactory: () => ApiError.badRequest('inference_id: must be a UUID', 'inference_id') });

@Controller('api/v2/inference')
export class InferencesController {
  constructor(
    private readonly inferences: InferencesService,
    private readonly tiles: TilesService,
  ) {}

  private view(inference: InferenceEntity, statuses: string[], liveStatus?: string) {
    return {
      id: inference.id,
      model_display_name: inference.modelDisplayName,
      model_id: inference.modelId,
      description: inference.description,
      location: inference.location,
      spatial_domain: inference.spatialDomain,
      temporal_domain: inference.temporalDomain,
      maxcc: inference.maxcc,
      fine_tuning_id: inference.fineTuningId,
      generic_processor_id: inference.genericProcessorId,
      post_processing: inference.postProcessing,
      webhook_url: inference.webhookUrl,
      // The DB says PENDING until the workflow's first step records RUNNING; the live query knows sooner.
      status: liveStatus ?? inference.status,
      status_message: inference.statusMessage,
      retries: inference.retries,
      ...countTasks(statuses),
      workflow_id: inference.workflowId,
      temporal_ui_url: this.inferences.uiUrl(inference),
      coco_url: this.inferences.cocoUrl(inference),
      created_at: inference.createdAt.toISOString(),
      updated_at: inference.updatedAt.toISOString(),
      started_at: inference.startedAt?.toISOString() ?? null,
      finished_at: inference.finishedAt?.toISOString() ?? null,
      created_by: inference.createdBy,
    };
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @CurrentUser() user: string) {
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw ApiError.badRequest('body: a JSON object is required (Content-Type: application/json)');
    }
    const request = parseOrThrow(createInferenceSchema, body);
    const { inference, tasks } = await this.inferences.create(request, user);
    return this.view(inference, Array.from({ length: tasks }, () => 'WAITING'));
  }

  /** Bulk upload: multipart `inference` (JSON, first) + any number of `files` (GeoTIFFs); one task per file. */
  @Post('upload')
  @HttpCode(201)
  async upload(@Req() request: Request, @CurrentUser() user: string) {
    const { inference, tasks } = await this.inferences.createFromUpload(request, user);
    return this.view(inference, Array.from({ length: tasks }, () => 'WAITING'));
  }

  @Get()
  async list(@Query() query: Record<string, unknown>, @CurrentUser() user: string) {
    const { limit, offset, status, model_id, model_display_name, created_by } = parseOrThrow(listInferencesQuerySchema, query);
    // API keys see their own user's inferences only; naming another user is refused rather than answered empty.
    if (created_by !== undefined && created_by !== user) {
      throw new ApiError(403, `created_by: this API key belongs to ${user} and can only list that user's inferences`, 'created_by');
    }
    const [rows, total] = await this.inferences.list(user, limit, offset, status, model_id, model_display_name);
    const statuses = await this.inferences.countsFor(rows.map((row) => row.id));
    return { results: rows.map((row) => this.view(row, statuses.get(row.id) ?? [])), total_records: total };
  }

  @Get(':id')
  async get(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const inference = await this.inferences.getOwned(id, user);
    const { rows, live } = await this.inferences.tasks(inference);
    const statuses = rows.map((row) => live?.tasks.find((task) => task.task_id === row.taskId)?.status ?? row.status);
    return this.view(inference, statuses, live?.status);
  }

  @Get(':id/tasks')
  async tasks(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const inference = await this.inferences.getOwned(id, user);
    const { rows, live } = await this.inferences.tasks(inference);
    const liveById = new Map((live?.tasks ?? []).map((task) => [task.task_id, task]));
    const tasks = rows.map((row) => {
      const task = mergeTaskState(row, liveById.get(row.taskId));
      // XYZ tiles of the output for map clients, with a fresh signed token (tiles.controller.ts).
      return { ...task, ...(task.output_key ? this.tiles.urlTemplate(task.task_id) : { tile_url_template: null, map_url: null }) };
    });
    return { inference_id: inference.id, status: live?.status ?? inference.status, tasks, total_records: tasks.length };
  }

  @Post(':id/stop')
  @HttpCode(202)
  async stop(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const inference = await this.inferences.getOwned(id, user);
    if (!(await this.inferences.stop(inference))) {
      throw ApiError.conflict(`inference ${id} has already ended (${inference.status}); only PENDING or RUNNING inferences can be stopped`);
    }
    return { id, status: 'STOPPING', message: 'cancellation requested; the inference becomes STOPPED when its running steps have stopped' };
  }

  @Post(':id/retry')
  @HttpCode(202)
  async retry(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const tasksToRerun = await this.inferences.retry(await this.inferences.getOwned(id, user));
    return { id, status: 'PENDING', tasks_to_rerun: tasksToRerun, message: 'failed and stopped tasks rerun from the step that did not finish' };
  }

  /** COCO instance-segmentation JSON of the finished tasks' masks (404 with the reason when there is none yet). */
  @Get(':id/coco')
  async coco(@Param('id', uuidPipe) id: string, @CurrentUser() user: string): Promise<StreamableFile> {
    const inference = await this.inferences.getOwned(id, user);
    const stream = await this.inferences.cocoExport(inference);
    return new StreamableFile(stream, { type: 'application/json', disposition: `attachment; filename="${inference.id}-coco.json"` });
  }

  @Get(':id/webhook-deliveries')
  async webhookDeliveries(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const inference = await this.inferences.getOwned(id, user);
    const rows = await this.inferences.webhookDeliveries(inference);
    return {
      inference_id: inference.id,
      webhook_url: inference.webhookUrl ?? this.inferences.defaultWebhookUrl(),
      delivered: rows.some((row) => row.delivered),
      results: rows.map((row) => ({
        webhook_id: row.webhookId,
        event_type: row.eventType,
        attempt: row.attempt,
        attempted_at: row.attemptedAt.toISOString(),
        duration_ms: row.durationMs,
        status_code: row.statusCode,
        error: row.error,
        delivered: row.delivered,
      })),
      total_records: rows.length,
    };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', uuidPipe) id: string, @CurrentUser() user: string): Promise<void> {
    await this.inferences.delete(await this.inferences.getOwned(id, user));
  }
}
