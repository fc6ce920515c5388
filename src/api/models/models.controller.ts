import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  UploadedFile,
  UseInterceptors,
} from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser } from '../auth/current-user.decorator';
import { ApiError } from '../http/api-error';
import { zodPipe } from '../http/zod-validation';
import { modelMetadataExample } from '../openapi/examples';
import { ApiMultipartBody, ApiZodQuery } from '../openapi/zod-openapi';
import { createModelSchema, listQuerySchema, type ListModelsQuery } from './models.dto';
import { ModelsService } from './models.service';
import { ApiJsonResponse } from '../openapi/response-schemas';

@ApiTags('models')
@Controller('api/v2/models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Post()
  @HttpCode(201)
  @UseInterceptors(FileInterceptor('model_file'))
  @ApiOperation({
    summary:
      'Register an ONNX model: READY once stored and loaded by onnxruntime; 422 if it does not load or match the spec',
  })
  @ApiMultipartBody({
    model_file: { file: {}, description: 'the .onnx file' },
    model: { json: createModelSchema, description: 'model metadata', example: modelMetadataExample },
  })
  @ApiJsonResponse(201, 'Model', 'READY: stored and loaded by onnxruntime', {
    id: '6f1c2b1e-3f0a-4c1e-9a57-2d6c3e8b9f10',
    ...modelMetadataExample,
    status: 'READY',
    created_by: 'user@example.com',
  })
  create(
    @UploadedFile() file: Express.Multer.File | undefined,
    @Body() body: Record<string, unknown>,
    @CurrentUser() user: string,
  ) {
    return this.models.register(file, body?.model, user);
  }

  @Get()
  @ApiOperation({ summary: 'List models' })
  @ApiZodQuery(listQuerySchema)
  @ApiJsonResponse(200, 'ModelList')
  list(@Query(zodPipe(listQuerySchema)) query: ListModelsQuery) {
    return this.models.list(query.limit, query.offset);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One model' })
  @ApiJsonResponse(200, 'Model')
  get(
    @Param('id', new ParseUUIDPipe({ exceptionFactory: () => ApiError.badRequest('id: must be a UUID', 'id') }))
    id: string,
  ) {
    return this.models.get(id);
  }
}
