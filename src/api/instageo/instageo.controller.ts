import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, type PipeTransform } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentUser } from '../auth/current-user.decorator';
import { RateLimited } from '../auth/rate-limit.decorator';
import { ApiError } from '../http/api-error';
import { jsonObjectBodyPipe, zodPipe } from '../http/zod-validation';
import { ApiZodBody, ApiZodQuery, openApiSchema } from '../openapi/zod-openapi';
import {
  instageoTaskListSchema,
  instageoTaskViewSchema,
  listTasksQuerySchema,
  runModelSchema,
  type ListTasksQuery,
  type RunModelRequest,
} from './instageo.dto';
import { InstageoService } from './instageo.service';

const taskIdPipe = new ParseUUIDPipe({
  exceptionFactory: () => ApiError.badRequest('task_id: must be a UUID', 'task_id'),
});

/** The body pipe of POST /api/run-model: like v2's, and a field the seed does not have is named (400). */
const runModelBodyPipe: PipeTransform<unknown, RunModelRequest> = {
  transform(value: unknown) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const known = Object.keys(runModelSchema.shape);
      const unknown = Object.keys(value).find((key) => !known.includes(key));
      if (unknown !== undefined)
        throw ApiError.badRequest(`${unknown}: not a field of this body (${known.join(', ')})`, unknown);
    }
    return jsonObjectBodyPipe(runModelSchema).transform(value, { type: 'body' });
  },
};

/** The seed's example body (003). */
const runModelExample = {
  bboxes: [
    [116.0, 39.0, 116.5, 39.5],
    [-74.1, 40.6, -73.9, 40.8],
    [2.2, 48.8, 2.4, 49.0],
  ],
  model_type: 'aod_estimation',
  date: '2024-06-01',
  chip_size: 256,
  cloud_coverage: 15,
  num_steps: 5,
  data_source: 'S2',
  temporal_step: 10,
  temporal_tolerance: 3,
};

/** The InstaGeo task API (seed 003): same API keys and per-user visibility as /api/v2; field errors are 400s. */
@ApiTags('instageo')
@Controller('api')
export class InstageoController {
  constructor(private readonly instageo: InstageoService) {}

  @Post('run-model')
  @HttpCode(201)
  @RateLimited('inference-starts')
  @ApiOperation({
    summary:
      'Create an InstaGeo task: one inference whose tasks are the bboxes on the date, with the latest READY model of model_type; 400 naming the field on any bad field',
  })
  @ApiZodBody(runModelSchema, { examples: { seed: { summary: 'the InstaGeo example', value: runModelExample } } })
  @ApiResponse({
    status: 201,
    description: 'the task (status data_processing); poll GET /api/task/{task_id}',
    content: { 'application/json': { schema: openApiSchema(instageoTaskViewSchema) } },
  })
  runModel(@Body(runModelBodyPipe) request: RunModelRequest, @CurrentUser() user: string) {
    return this.instageo.runModel(request, user);
  }

  @Get('task/:task_id')
  @ApiOperation({
    summary:
      'One InstaGeo task: status data_processing, model_prediction, completed or failed, and each stage (name, status, started, finished, error)',
  })
  @ApiOkResponse({ schema: openApiSchema(instageoTaskViewSchema) })
  get(@Param('task_id', taskIdPipe) taskId: string, @CurrentUser() user: string) {
    return this.instageo.get(taskId, user);
  }

  @Get('tasks')
  @ApiOperation({
    summary: "The caller's InstaGeo tasks, newest first: status, creation date, bbox count, model type, stages",
  })
  @ApiZodQuery(listTasksQuerySchema)
  @ApiOkResponse({ schema: openApiSchema(instageoTaskListSchema) })
  list(@Query(zodPipe(listTasksQuerySchema)) query: ListTasksQuery, @CurrentUser() user: string) {
    return this.instageo.list(query, user);
  }
}
