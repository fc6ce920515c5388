import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, UploadedFile, UseInterceptors } from '@nestjs/common';
import { CurrentUser } from '../auth/current-user.decorator';
import { ApiError } from '../common/api-error';
import { parseJsonField, parseOrThrow } from '../common/zod-validation';
import { createGenericProcessorSchema, listGenericProcessorsQuerySchema } from './generic-processors.dto';
import { GenericProcessorsService, toProcessorView } from './generic-processors.service';
import { ProcessorUploadInterceptor } from './processor-upload.interceptor';

const uuidPipe = new ParseUUIDPipe({ exceptionFactory: () => ApiError.badRequest('generic_processor_id: must be a UUID', 'generic_processor_id') });

@Controller('api/v2/generic-processor')
export class GenericProcessorsController {
  constructor(private readonly processors: GenericProcessorsService) {}

  @Post()
  @HttpCode(201)
  @UseInterceptors(ProcessorUploadInterceptor)
  async create(@UploadedFile() file: Express.Multer.File | undefined, @Body() body: Record<string, unknown>, @CurrentUser() user: string) {
    const request = parseOrThrow(createGenericProcessorSchema, parseJsonField(body?.generic_processor, 'generic_processor'), 'generic_processor');
    if (!file) throw ApiError.badRequest('generic_processor_file: required file field (a .py script) is missing', 'generic_processor_file');
    return toProcessorView(await this.processors.create(request, file, user));
  }

  @Get()
  async list(@Query() query: Record<string, unknown>, @CurrentUser() user: string) {
    const { limit, offset } = parseOrThrow(listGenericProcessorsQuerySchema, query);
    const page = await this.processors.list(user, limit, offset);
    return { results: page.results.map(toProcessorView), total_records: page.total_records };
  }

  @Get(':id')
  async get(@Param('id', uuidPipe) id: string, @CurrentUser() user: string) {
    const entity = await this.processors.get(id, user);
    return { ...toProcessorView(entity), processor_presigned_url: await this.processors.signedUrl(entity) };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', uuidPipe) id: string, @CurrentUser() user: string): Promise<void> {
    await this.processors.softDelete(id, user);
  }
}
