import { DataSource, type DataSourceOptions } from 'typeorm';
import { ENTITIES } from './entities';
import { InitialSchema1732500000000 } from './migrations/1732500000000-initial-schema';
import { Webhooks1732600000000 } from './migrations/1732600000000-webhooks';
import { TaskCurrentKey1732700000000 } from './migrations/1732700000000-task-current-key';
import { GenericProcessors1732800000000 } from './migrations/1732800000000-generic-processors';
import { CocoExport1732900000000 } from './migrations/1732900000000-coco-export';
import { StepLogs1733000000000 } from './migrations/1733000000000-step-logs';
import { InferenceEvents1733100000000 } from './migrations/1733100000000-inference-events';
import { OwnedModelsApiKeys1733250000000 } from './migrations/1733250000000-owned-models-api-keys';
import { ProcessorStyle1733300000000 } from './migrations/1733300000000-processor-style';
import { WebhookDeliveryStatus1733350000000 } from './migrations/1733350000000-webhook-delivery-status';
import { ModelVersionsGolden1733400000000 } from './migrations/1733400000000-model-versions-golden';
import { InferenceChipSize1733600000000 } from './migrations/1733600000000-inference-chip-size';
import { InstageoTasks1733620000000 } from './migrations/1733620000000-instageo-tasks';
import { WorkflowStarts1733630000000 } from './migrations/1733630000000-workflow-starts';

export const MIGRATIONS = [
  InitialSchema1732500000000,
  Webhooks1732600000000,
  TaskCurrentKey1732700000000,
  GenericProcessors1732800000000,
  CocoExport1732900000000,
  StepLogs1733000000000,
  InferenceEvents1733100000000,
  OwnedModelsApiKeys1733250000000,
  ProcessorStyle1733300000000,
  WebhookDeliveryStatus1733350000000,
  ModelVersionsGolden1733400000000,
  InferenceChipSize1733600000000,
  InstageoTasks1733620000000,
  WorkflowStarts1733630000000,
];

/**
 * How long a query waits for a pooled connection (a busy pool, or a server that does not answer) before it
 * fails: a request then gets a clear error instead of hanging (DATABASE_CONNECT_TIMEOUT_MS).
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** TypeORM options shared by the API, the worker and the tests. Schema changes go through migrations only. */
export function dataSourceOptions(
  databaseUrl: string,
  poolSize = 10,
  connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    // keepAlive: a server that vanished (host down, network cut) is noticed on idle connections too.
    extra: { max: poolSize, connectionTimeoutMillis: connectTimeoutMs, keepAlive: true },
  };
}

/** Opens a connection and applies pending migrations (idempotent; safe when API and worker start together). */
export async function openDataSource(
  databaseUrl: string,
  poolSize = 10,
  connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): Promise<DataSource> {
  const dataSource = new DataSource(dataSourceOptions(databaseUrl, poolSize, connectTimeoutMs));
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'all' });
  return dataSource;
}
