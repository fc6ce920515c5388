import type { AppConfig } from '../../../src/platform/config/config';
import type { ObjectStore } from '../../../src/platform/storage/object-store';
import { GenericProcessorsService } from '../../../src/api/generic-processors/generic-processors.service';
import { InferenceControlService } from '../../../src/api/inferences/inference-control.service';
import { InferenceCreationService } from '../../../src/api/inferences/inference-creation.service';
import { InferenceResultsService } from '../../../src/api/inferences/inference-results.service';
import { InferencesService } from '../../../src/api/inferences/inferences.service';
import { WorkflowStartOutbox } from '../../../src/api/inferences/workflow-start-outbox';
import { ModelsService } from '../../../src/api/models/models.service';
import { TilesService } from '../../../src/api/tiles/tiles.service';
import { TokenGenerations } from '../../../src/api/auth/token-generations';
import {
  as,
  FakeGenericProcessors,
  FakeInferences,
  FakeModels,
  FakePipeline,
  FakeTasks,
  FakeWebhookDeliveries,
  FakeWorkflowStarts,
  testConfig,
  testStore,
} from './fakes';

/** The inference services as Nest wires them, over in-memory repositories and pipeline client. */
export async function inferenceServices(env: Record<string, string> = {}) {
  const config: AppConfig = testConfig(env);
  const store: ObjectStore = await testStore(config);
  const tasks = new FakeTasks();
  const starts = new FakeWorkflowStarts();
  const inferences = new FakeInferences(tasks, starts);
  const models = new FakeModels();
  const processors = new FakeGenericProcessors();
  const deliveries = new FakeWebhookDeliveries();
  const pipeline = new FakePipeline();
  const outbox = new WorkflowStartOutbox(config, as(starts), as(pipeline));
  const processorsService = new GenericProcessorsService(as(processors), store, config);
  const tiles = new TilesService(
    config,
    store,
    as(tasks),
    as(inferences),
    as(models),
    new TokenGenerations(as(inferences)),
  );
  return {
    config,
    store,
    tasks,
    inferences,
    models,
    processors,
    deliveries,
    pipeline,
    starts,
    outbox,
    creation: new InferenceCreationService(
      config,
      store,
      as(inferences),
      as(models),
      outbox,
      new ModelsService(as(models), store),
      processorsService,
    ),
    reading: new InferencesService(config, as(inferences), as(tasks), as(pipeline), tiles),
    control: new InferenceControlService(
      config,
      store,
      as(inferences),
      as(tasks),
      as(pipeline),
      processorsService,
      outbox,
    ),
    results: new InferenceResultsService(config, store, as(inferences), as(deliveries)),
  };
}
