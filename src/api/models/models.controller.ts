import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
  UploadedFiles,
  UseInterceptors,
} from '@nestjs/common';
import { FileFieldsInterceptor } from '@nestjs/platform-express';
import { ApiNoContentResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, CurrentUser } from '../auth/current-user.decorator';
import type { Principal } from '../auth/principal';
import { ApiError } from '../http/api-error';
import { jsonObjectBodyPipe, zodPipe } from '../http/zod-validation';
import { modelMetadataExample } from '../openapi/examples';
import { ApiMultipartBody, ApiZodBody, ApiZodQuery } from '../openapi/zod-openapi';
import { ApiJsonResponse } from '../openapi/response-schemas';
import {
  createModelSchema,
  listQuerySchema,
  updateModelSchema,
  type ListModelsQuery,
  type UpdateModelRequest,
} from './models.dto';
import { ModelsService, type ModelUploads } from './models.service';

const uuidPipe = new ParseUUIDPipe({ exceptionFactory: () => ApiError.badRequest('id: must be a UUID', 'id') });

@ApiTags('models')
@Controller('api/v2/models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Post()
  @HttpCode(201)
  @UseInterceptors(
    FileFieldsInterceptor([
      { name: 'model_file', maxCount: 1 },
      { name: 'golden_input', maxCount: 1 },
      { name: 'golden_output', maxCount: 1 },
    ]),
  )
  @ApiOperation({
    summary:
      'Register an ONNX model (a display name the owner already has becomes version n+1): READY once stored and loaded by onnxruntime; ' +
      '422 if it does not load, does not match the spec, or does not reproduce its golden pair',
  })
  @ApiMultipartBody({
    model_file: { file: {}, description: 'the .onnx file' },
    model: { json: createModelSchema, description: 'model metadata', example: modelMetadataExample },
    golden_input: {
      file: {},
      required: false,
      description: 'optional: a small input GeoTIFF (at most 2048 x 2048 pixels) the model is run on at registration',
    },
    golden_output: {
      file: {},
      required: false,
      description: "optional, with golden_input: the expected output (band 1: class values on the input's grid)",
    },
  })
  @ApiJsonResponse(201, 'Model', 'READY: stored and loaded by onnxruntime', {
    id: '6f1c2b1e-3f0a-4c1e-9a57-2d6c3e8b9f10',
    ...modelMetadataExample,
    version: 1,
    status: 'READY',
    created_by: 'user@example.com',
  })
  create(
    @UploadedFiles() files: Partial<Record<keyof ModelUploads, Express.Multer.File[]>> | undefined,
    @Body() body: Record<string, unknown>,
    @CurrentUser() user: string,
  ) {
    const uploads: ModelUploads = {
      model_file: files?.model_file?.[0],
      golden_input: files?.golden_input?.[0],
      golden_output: files?.golden_output?.[0],
    };
    return this.models.register(uploads, body?.model, user);
  }

  @Get()
  @ApiOperation({
    summary:
      'List the models the caller may use: their own and public ones (admin keys: all), every version unless versions=latest',
  })
  @ApiZodQuery(listQuerySchema)
  @ApiJsonResponse(200, 'ModelList')
  list(@Query(zodPipe(listQuerySchema)) query: ListModelsQuery, @CurrentPrincipal() caller: Principal) {
    return this.models.list(caller, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One model version (own or public; admin keys: any)' })
  @ApiJsonResponse(200, 'Model')
  get(@Param('id', uuidPipe) id: string, @CurrentPrincipal() caller: Principal) {
    return this.models.get(id, caller);
  }

  @Patch(':id')
  @ApiOperation({
    summary:
      "Change a model's metadata (display_name, description, visibility, geoserver_push, model_type): owner or admin only",
  })
  @ApiZodBody(updateModelSchema)
  @ApiJsonResponse(200, 'Model')
  update(
    @Param('id', uuidPipe) id: string,
    @Body(jsonObjectBodyPipe(updateModelSchema)) body: UpdateModelRequest,
    @CurrentPrincipal() caller: Principal,
  ) {
    return this.models.update(id, body, caller);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    summary:
      'Delete a model (owner or admin only): new inferences naming it get 422, inferences already running finish',
  })
  @ApiNoContentResponse({ description: 'deleted' })
  async delete(@Param('id', uuidPipe) id: string, @CurrentPrincipal() caller: Principal): Promise<void> {
    await this.models.delete(id, caller);
  }
}
