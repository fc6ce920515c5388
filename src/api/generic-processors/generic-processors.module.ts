import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { GenericProcessorEntity } from '../../platform/database/entities';
import { GenericProcessorsController } from './generic-processors.controller';
import { GenericProcessorsService } from './generic-processors.service';
import { ProcessorUploadInterceptor } from './processor-upload.interceptor';

@Module({
  imports: [TypeOrmModule.forFeature([GenericProcessorEntity])],
  controllers: [GenericProcessorsController],
  providers: [GenericProcessorsService, ProcessorUploadInterceptor],
  exports: [GenericProcessorsService],
})
export class GenericProcessorsModule {}
