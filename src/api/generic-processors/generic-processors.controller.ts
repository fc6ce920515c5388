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
  UploadedFile,
  UseInterceptors,
} from '@nestjs/common';
import { ApiNoContentResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser } from '../auth/current-user.decorator';
import { ApiError } from '../http/api-error';
import { zodPipe } from '../http/zod-validation';
import { genericProcessorExample, genericProcessorMetadataExample } from '../openapi/examples';
import { ApiMultipartBody, ApiZodQuery } from '../openapi/zod-openapi';
import {
  createGenericProcessorSchema,
  listGenericProcessorsQuerySchema,
  type ListGenericProcessorsQuery,
} from './generic-processors.dto';
import { GenericProcessorsService } from './generic-processors.service';
import { ProcessorUploadInterceptor } from './processor-upload.interceptor';
import { ApiJsonResponse } from '../openapi/response-schemas';

const uuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => ApiError.badRequest('generic_processor_id: must be a UUID', 'generic_processor_id'),
});

@ApiTags('generic-processor')
@Controller('api/v2/generic-processor')
export class GenericProcessorsController {
  constructor(private readonly processors: GenericProcessorsService) {}

  @Post()
  @HttpCode(201)
  @UseInterceptors(ProcessorUploadInterceptor)
  @ApiOperation({ summary: 'Upload a Python processor script (.py, up to 10 MB) with its metadata' })
  @ApiMultipartBody({
    generic_processor: {
      json: createGenericProcessorSchema,
      description: 'processor metadata',
      example: genericProcessorMetadataExample,
    },
    generic_processor_file: {
      file: {},
      description: 'the .py script, run as `python script.py <input_path> <output_path> <parameters_json>`',
    },
  })
  @ApiJsonResponse(201, 'GenericProcessor', 'stored', genericProcessorExample)
  create(
    @UploadedFile() file: Express.Multer.File | undefined,
    @Body() body: Record<string, unknown>,
    @CurrentUser() user: string,
  ) {
    return this.processors.register(body?.generic_processor, file, user);
  }

  @Get()
  @ApiOperation({ summary: "The caller's generic processors" })
  @ApiZodQuery(listGenericProcessorsQuerySchema)
  @ApiJsonResponse(200, 'GenericProcessorList', undefined, { results: [genericProcessorExample], total_records: 1 })
  list(
    @Query(zodPipe(listGenericProcessorsQuerySchema)) query: ListGenericProcessorsQuery,
    @CurrentUser() user: string,
  ) {
    return this.processors.list(user, query.limit, query.offset);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One processor, with a signed URL of its script' })
  @ApiJsonResponse(200, 'GenericProcessor', undefined, {
    ...genericProcessorExample,
    processor_presigned_url: 'https://storage.example.com/...',
  })
  get(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    return this.processors.get(id, user);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a processor' })
  @ApiNoContentResponse({ description: 'deleted' })
  remove(@Param('id', uuidPipe) id: string, @CurrentUser() user: string): Promise<void> {
    return this.processors.softDelete(id, user);
  }
}
