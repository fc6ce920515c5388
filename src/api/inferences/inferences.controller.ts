import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
  StreamableFile,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request } from 'express';
import { CurrentUser } from '../auth/current-user.decorator';
import { ApiError } from '../http/api-error';
import { parseOrThrow } from '../http/zod-validation';
import type { InferenceEntity } from '../../platform/database/entities';
import {
  createInferenceExamples,
  inferenceCreatedExample,
  inferenceListExample,
  inferenceStatusExample,
  inferenceTasksExample,
} from '../openapi/examples';
import { ApiMultipartBody, ApiZodBody, ApiZodQuery } from '../openapi/zod-openapi';
import { createInferenceSchema, listInferencesQuerySchema, uploadInferenceSchema } from './inferences.dto';
import { countTasks } from '../../../workflows/contract/task-counts';
import { InferencesService, mergeTaskState } from './inferences.service';
import { TilesService } from '../tiles/tiles.service';

const uuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => ApiError.badRequest('inference_id: must be a UUID', 'inference_id'),
});

@ApiTags('inference')
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
  @ApiOperation({
    summary: 'Create an inference: one task per input, each running the step plan; starts workflow {id}',
  })
  @ApiZodBody(createInferenceSchema, {
    description:
      'either model_id or model_display_name; spatial_domain needs at least one of bbox, polygons, tiles, urls',
    examples: createInferenceExamples,
  })
  @ApiCreatedResponse({
    description: 'PENDING; the workflow has started',
    schema: { example: inferenceCreatedExample },
  })
  async create(@Body() body: unknown, @CurrentUser() user: string) {
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw ApiError.badRequest('body: a JSON object is required (Content-Type: application/json)');
    }
    const request = parseOrThrow(createInferenceSchema, body);
    const { inference, tasks } = await this.inferences.create(request, user);
    return this.view(
      inference,
      Array.from({ length: tasks }, () => 'WAITING'),
    );
  }

  /** Bulk upload: multipart `inference` (JSON, first) + any number of `files` (GeoTIFFs); one task per file. */
  @Post('upload')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Bulk GeoTIFF upload: the `inference` field first, then any number of `files`; one task per file',
  })
  @ApiMultipartBody({
    inference: {
      json: uploadInferenceSchema,
      description: 'the inference fields without spatial_domain; must come before the files',
      example: { model_display_name: 'csmask', temporal_domain: ['2024-06-15'] },
    },
    files: { file: { many: true }, description: 'GeoTIFF files, streamed into storage' },
  })
  @ApiCreatedResponse({ schema: { example: inferenceCreatedExample } })
  async upload(@Req() request: Request, @CurrentUser() user: string) {
    const { inference, tasks } = await this.inferences.createFromUpload(request, user);
    return this.view(
      inference,
      Array.from({ length: tasks }, () => 'WAITING'),
    );
  }

  @Get()
  @ApiOperation({ summary: "The caller's inferences, newest first" })
  @ApiZodQuery(listInferencesQuerySchema)
  @ApiOkResponse({ schema: { example: inferenceListExample } })
  async list(@Query() query: Record<string, unknown>, @CurrentUser() user: string) {
    const { limit, offset, status, model_id, model_display_name, created_by } = parseOrThrow(
      listInferencesQuerySchema,
      query,
    );
    // API keys see their own user's inferences only; naming another user is refused rather than answered empty.
    if (created_by !== undefined && created_by !== user) {
      throw new ApiError(
        403,
        `created_by: this API key belongs to ${user} and can only list that user's inferences`,
        'created_by',
      );
    }
    const [rows, total] = await this.inferences.list(user, limit, offset, status, model_id, model_display_name);
    const statuses = await this.inferences.countsFor(rows.map((row) => row.id));
    return { results: rows.map((row) => this.view(row, statuses.get(row.id) ?? [])), total_records: total };
  }

  @Get(':id')
  @ApiOperation({ summary: 'Status and task counts of one inference' })
  @ApiOkResponse({ schema: { example: inferenceStatusExample } })
  async get(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const inference = await this.inferences.getOwned(id, user);
    // Counts come from the DB projection, written at every task change: answering never waits on a busy
    // worker for a workflow query (GET .../tasks serves the live step detail).
    const statuses = (await this.inferences.countsFor([inference.id])).get(inference.id) ?? [];
    return this.view(inference, statuses);
  }

  @Get(':id/tasks')
  @ApiOperation({ summary: 'Tasks with their pipeline steps (live from the workflow while it runs)' })
  @ApiOkResponse({ schema: { example: inferenceTasksExample } })
  async tasks(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const inference = await this.inferences.getOwned(id, user);
    const { rows, live } = await this.inferences.tasks(inference);
    const liveById = new Map((live?.tasks ?? []).map((task) => [task.task_id, task]));
    const tasks = rows.map((row) => {
      const task = mergeTaskState(row, liveById.get(row.taskId));
      // XYZ tiles of the output for map clients, with a fresh signed token (tiles.controller.ts).
      return {
        ...task,
        ...(task.output_key ? this.tiles.urlTemplate(task.task_id) : { tile_url_template: null, map_url: null }),
      };
    });
    return { inference_id: inference.id, status: live?.status ?? inference.status, tasks, total_records: tasks.length };
  }

  @Post(':id/stop')
  @HttpCode(202)
  @ApiOperation({ summary: 'Cancel a running inference; 409 when it has already ended' })
  @ApiAcceptedResponse({
    schema: {
      example: {
        id: inferenceCreatedExample.id,
        status: 'STOPPING',
        message: 'cancellation requested; the inference becomes STOPPED when its running steps have stopped',
      },
    },
  })
  async stop(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const inference = await this.inferences.getOwned(id, user);
    if (!(await this.inferences.stop(inference))) {
      throw ApiError.conflict(
        `inference ${id} has already ended (${inference.status}); only PENDING or RUNNING inferences can be stopped`,
      );
    }
    return {
      id,
      status: 'STOPPING',
      message: 'cancellation requested; the inference becomes STOPPED when its running steps have stopped',
    };
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ApiOperation({
    summary:
      'Rerun the FAILED and STOPPED tasks of an ended inference from the step that did not finish; 409 when nothing to retry',
  })
  @ApiAcceptedResponse({
    schema: {
      example: {
        id: inferenceCreatedExample.id,
        status: 'PENDING',
        tasks_to_rerun: 1,
        message: 'failed and stopped tasks rerun from the step that did not finish',
      },
    },
  })
  async retry(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const tasksToRerun = await this.inferences.retry(await this.inferences.getOwned(id, user));
    return {
      id,
      status: 'PENDING',
      tasks_to_rerun: tasksToRerun,
      message: 'failed and stopped tasks rerun from the step that did not finish',
    };
  }

  /** COCO instance-segmentation JSON of the finished tasks' masks (404 with the reason when there is none yet). */
  @Get(':id/coco')
  @ApiOperation({
    summary:
      "COCO instance-segmentation JSON of the finished tasks' masks (404 with the reason when there is none yet)",
  })
  @ApiProduces('application/json')
  async coco(@Param('id', uuidPipe) id: string, @CurrentUser() user: string): Promise<StreamableFile> {
    const inference = await this.inferences.getOwned(id, user);
    const stream = await this.inferences.cocoExport(inference);
    return new StreamableFile(stream, {
      type: 'application/json',
      disposition: `attachment; filename="${inference.id}-coco.json"`,
    });
  }

  @Get(':id/webhook-deliveries')
  @ApiOperation({ summary: 'Every webhook delivery attempt of the inference' })
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
  @ApiOperation({ summary: 'Stop (if running), then delete the inference, its tasks and outputs' })
  @ApiNoContentResponse({ description: 'deleted' })
  async remove(@Param('id', uuidPipe) id: string, @CurrentUser() user: string): Promise<void> {
    await this.inferences.delete(await this.inferences.getOwned(id, user));
  }
}
