import { Module } from '@nestjs/common';
import { GenericProcessorsModule } from '../generic-processors/generic-processors.module';
import { ModelsModule } from '../models/models.module';
import { TilesModule } from '../tiles/tiles.module';
import { InferenceControlService } from './inference-control.service';
import { InferenceCreationService } from './inference-creation.service';
import { InferenceDryRunService } from './inference-dry-run.service';
import { InferenceResultsService } from './inference-results.service';
import { InferenceStacService } from './inference-stac.service';
import { InferencesController } from './inferences.controller';
import { InferenceTokensController } from './inference-tokens.controller';
import { InferencesService } from './inferences.service';
import { WorkflowStartOutbox } from './workflow-start-outbox';

@Module({
  imports: [ModelsModule, GenericProcessorsModule, TilesModule],
  controllers: [InferencesController, InferenceTokensController],
  providers: [
    InferenceCreationService,
    InferenceDryRunService,
    InferencesService,
    InferenceControlService,
    InferenceResultsService,
    InferenceStacService,
    WorkflowStartOutbox,
  ],
  exports: [InferenceCreationService, InferencesService],
})
export class InferencesModule {}
