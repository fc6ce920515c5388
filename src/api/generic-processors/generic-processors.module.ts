import { Module } from '@nestjs/common';
import { GenericProcessorsController } from './generic-processors.controller';
import { GenericProcessorsService } from './generic-processors.service';
import { ProcessorUploadInterceptor } from './processor-upload.interceptor';

@Module({
  controllers: [GenericProcessorsController],
  providers: [GenericProcessorsService, ProcessorUploadInterceptor],
  exports: [GenericProcessorsService],
})
export class GenericProcessorsModule {}
