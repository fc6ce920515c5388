import type { DataSource } from 'typeorm';
import { ApiKeysRepository } from './api-keys.repository';
import { DatabaseProbe } from './database-probe';
import { GenericProcessorsRepository } from './generic-processors.repository';
import { InferencesRepository } from './inferences.repository';
import { InstageoTasksRepository } from './instageo-tasks.repository';
import { ModelsRepository } from './models.repository';
import { StepLogsRepository } from './step-logs.repository';
import { TasksRepository } from './tasks.repository';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository';
import { WorkflowStartsRepository } from './workflow-starts.repository';

export * from './api-keys.repository';
export * from './database-probe';
export * from './generic-processors.repository';
export * from './inferences.repository';
export * from './instageo-tasks.repository';
export * from './models.repository';
export * from './step-logs.repository';
export * from './tasks.repository';
export * from './webhook-deliveries.repository';
export * from './workflow-starts.repository';

/** Every class over the DataSource, each built as `new Repository(dataSource)`. */
export const REPOSITORIES: ReadonlyArray<new (dataSource: DataSource) => object> = [
  ApiKeysRepository,
  DatabaseProbe,
  GenericProcessorsRepository,
  InferencesRepository,
  InstageoTasksRepository,
  ModelsRepository,
  StepLogsRepository,
  TasksRepository,
  WebhookDeliveriesRepository,
  WorkflowStartsRepository,
];
