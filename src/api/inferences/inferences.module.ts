import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { InferenceEntity, TaskEntity } from '../../platform/database/entities';
import { GenericProcessorsModule } from '../generic-processors/generic-processors.module';
import { ModelsModule } from '../models/models.module';
import { InferencesController } from './inferences.controller';
import { InferencesService } from './inferences.service';
import { TilesModule } from '../tiles/tiles.module';

@Module({
  imports: [
    TypeOrmModule.forFeature([InferenceEntity, TaskEntity]),
    ModelsModule,
    GenericProcessorsModule,
    TilesModule,
  ],
  controllers: [InferencesController],
  providers: [InferencesService],
  exports: [InferencesService],
})
export class InferencesModule {}
