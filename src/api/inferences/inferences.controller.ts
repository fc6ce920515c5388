import {
  applyDecorators,
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
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Request } from 'express';
import { CurrentUser } from '../auth/current-user.decorator';
import { RateLimited } from '../auth/rate-limit.decorator';
import { ApiError } from '../http/api-error';
import { jsonObjectBodyPipe, zodPipe } from '../http/zod-validation';
import {
  createInferenceExamples,
  inferenceCreatedExample,
  inferenceListExample,
  inferenceStatusExample,
  inferenceTasksExample,
} from '../openapi/examples';
import { ApiJsonResponse } from '../openapi/response-schemas';
import { ApiMultipartBody, ApiZodBody, ApiZodQuery, openApiSchema } from '../openapi/zod-openapi';
import { dryRunViewSchema } from './dry-run.schema';
import {
  createInferenceSchema,
  listInferencesQuerySchema,
  uploadInferenceSchema,
  type CreateInferenceRequest,
} from './inferences.dto';
import { InferenceControlService } from './inference-control.service';
import { InferenceCreationService } from './inference-creation.service';
import { InferenceDryRunService } from './inference-dry-run.service';
import { InferenceResultsService } from './inference-results.service';
import { InferenceStacService } from './inference-stac.service';
import { stacCollectionResponse, stacItemResponse, vectorsQuery } from './stac.dto';
import { InferencesService, type ListInferencesQuery } from './inferences.service';

const uuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => ApiError.badRequest('inference_id: must be a UUID', 'inference_id'),
});

@ApiTags('inference')
@Controller('api/v2/inference')
export class InferencesController {
  constructor(
    private readonly creation: InferenceCreationService,
    private readonly dryRuns: InferenceDryRunService,
    private readonly inferences: InferencesService,
    private readonly control: InferenceControlService,
    private readonly results: InferenceResultsService,
    private readonly stac: InferenceStacService,
  ) {}

  @Post()
  @HttpCode(201)
  @RateLimited('inference-starts')
  @ApiOperation({
    summary: 'Create an inference: one task per input, each running the step plan; starts workflow {id}',
  })
  @ApiZodBody(createInferenceSchema, {
    description:
      'either model_id or model_display_name; spatial_domain needs at least one of bbox, polygons, tiles, urls',
    examples: createInferenceExamples,
  })
  @ApiJsonResponse(201, 'Inference', 'PENDING; the workflow has started', inferenceCreatedExample)
  create(
    @Body(jsonObjectBodyPipe(createInferenceSchema)) request: CreateInferenceRequest,
    @CurrentUser() user: string,
  ) {
    return this.creation.create(request, user);
  }

  @Post('dry-run')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Validate an inference body exactly as a create would (same 4xx) and answer the tasks it would run and, for areas, the scene each would use or why none fits; starts and stores nothing',
  })
  @ApiZodBody(createInferenceSchema, {
    description: 'the body of POST /api/v2/inference',
    examples: createInferenceExamples,
  })
  @ApiOkResponse({ schema: openApiSchema(dryRunViewSchema) })
  dryRun(
    @Body(jsonObjectBodyPipe(createInferenceSchema)) request: CreateInferenceRequest,
    @CurrentUser() user: string,
  ) {
    return this.dryRuns.dryRun(request, user);
  }

  /** Bulk upload: multipart `inference` (JSON, first) + any number of `files` (GeoTIFFs); one task per file. */
  @Post('upload')
  @HttpCode(201)
  @RateLimited('inference-starts')
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
  @ApiJsonResponse(
    201,
    'Inference',
    'PENDING; the files are stored and the workflow has started',
    inferenceCreatedExample,
  )
  upload(@Req() request: Request, @CurrentUser() user: string) {
    return this.creation.createFromUpload(request, user);
  }

  @Get()
  @ApiOperation({ summary: "The caller's inferences, newest first" })
  @ApiZodQuery(listInferencesQuerySchema)
  @ApiJsonResponse(200, 'InferenceList', undefined, inferenceListExample)
  list(@Query(zodPipe(listInferencesQuerySchema)) query: ListInferencesQuery, @CurrentUser() user: string) {
    return this.inferences.list(query, user);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Status and task counts of one inference' })
  @ApiJsonResponse(200, 'Inference', undefined, inferenceStatusExample)
  get(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    return this.inferences.get(id, user);
  }

  @Get(':id/tasks')
  @ApiOperation({ summary: 'Tasks with their pipeline steps (live from the workflow while it runs)' })
  @ApiJsonResponse(200, 'InferenceTasks', undefined, inferenceTasksExample)
  tasks(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    return this.inferences.tasksOf(id, user);
  }

  @Post(':id/stop')
  @HttpCode(202)
  @ApiOperation({ summary: 'Cancel a running inference; 409 when it has already ended' })
  @ApiJsonResponse(202, 'InferenceStopped', 'cancellation requested', {
    id: inferenceCreatedExample.id,
    status: 'STOPPING',
    message: 'cancellation requested; the inference becomes STOPPED when its running steps have stopped',
  })
  stop(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    return this.control.stop(id, user);
  }

  @Post(':id/retry')
  @HttpCode(202)
  @RateLimited('inference-starts')
  @ApiOperation({
    summary:
      'Rerun the FAILED and STOPPED tasks of an ended inference from the step that did not finish; 409 when nothing to retry',
  })
  @ApiJsonResponse(202, 'InferenceRetried', 'the rerun has started', {
    id: inferenceCreatedExample.id,
    status: 'PENDING',
    tasks_to_rerun: 1,
    message: 'failed and stopped tasks rerun from the step that did not finish',
  })
  retry(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    return this.control.retry(id, user);
  }

  /** COCO instance-segmentation JSON of the finished tasks' masks (404 with the reason when there is none yet). */
  @Get(':id/coco')
  @ApiOperation({
    summary:
      "COCO instance-segmentation JSON of the finished tasks' masks (404 with the reason when there is none yet)",
  })
  @ApiJsonResponse(200, 'CocoDataset', 'a COCO JSON download')
  coco(@Param('id', uuidPipe) id: string, @CurrentUser() user: string): Promise<StreamableFile> {
    return this.results.coco(id, user);
  }

  @Get(':id/stac')
  @ApiOperation({
    summary:
      'The inference as a STAC Collection (links to one Item per finished task; 404 with the reason when there is none yet)',
  })
  @ApiOkResponse({ description: 'STAC 1.1 Collection', schema: stacCollectionResponse })
  stacCollection(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    return this.stac.collection(id, user);
  }

  @Get(':id/stac/items/:taskId')
  @ApiOperation({
    summary:
      'A finished task as a STAC Item: footprint, datetimes, projection, classes, the model (mlm) and provenance; assets as signed URLs',
  })
  @ApiOkResponse({ description: 'STAC 1.1 Item (GeoJSON Feature)', schema: stacItemResponse })
  stacItem(@Param('id', uuidPipe) id: string, @Param('taskId') taskId: string, @CurrentUser() user: string) {
    return this.stac.item(id, taskId, user);
  }

  @Get(':id/vectors')
  @ApiOperation({
    summary:
      "Polygons of every finished task's prediction (one per connected component): GeoJSON in WGS 84 or FlatGeobuf in the outputs' CRS, streamed",
  })
  @ApiVectorsResponse()
  vectors(
    @Param('id', uuidPipe) id: string,
    @Query('format') format: unknown,
    @CurrentUser() user: string,
  ): Promise<StreamableFile> {
    return this.stac.vectors(id, user, format);
  }

  @Get(':id/tasks/:taskId/vectors')
  @ApiOperation({ summary: "Polygons of one task's prediction: GeoJSON in WGS 84 or FlatGeobuf in its CRS" })
  @ApiVectorsResponse()
  taskVectors(
    @Param('id', uuidPipe) id: string,
    @Param('taskId') taskId: string,
    @Query('format') format: unknown,
    @CurrentUser() user: string,
  ): Promise<StreamableFile> {
    return this.stac.vectors(id, user, format, taskId);
  }

  @Get(':id/webhook-deliveries')
  @ApiOperation({ summary: 'Every webhook delivery attempt of the inference' })
  @ApiJsonResponse(200, 'WebhookDeliveries')
  webhookDeliveries(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    return this.results.webhookDeliveries(id, user);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Stop (if running), then delete the inference, its tasks and outputs' })
  @ApiNoContentResponse({ description: 'deleted' })
  remove(@Param('id', uuidPipe) id: string, @CurrentUser() user: string): Promise<void> {
    return this.control.delete(id, user);
  }
}

/** The query and the two media types of the vectors routes (one inference, one task). */
function ApiVectorsResponse() {
  return applyDecorators(
    ApiQuery(vectorsQuery),
    ApiProduces('application/geo+json', 'application/vnd.flatgeobuf'),
    ApiResponse({
      status: 200,
      description: 'a GeoJSON FeatureCollection (format=geojson, the default) or a FlatGeobuf file (format=fgb)',
      content: {
        'application/geo+json': {
          schema: {
            type: 'object',
            required: ['type', 'features'],
            properties: { type: { type: 'string' }, features: { type: 'array', items: { type: 'object' } } },
          },
        },
        'application/vnd.flatgeobuf': { schema: { type: 'string', format: 'binary' } },
      },
    }),
  );
}
