import type { DataSource } from 'typeorm';
import type { AppConfig } from '../src/config/config';
import type { ObjectStore } from '../src/storage/object-store';
import type { ProcessorRuntime } from './lib/processor-runtime';
import type { MapPublisher } from './lib/publisher';

/** What the activities need from the outside world; built once per worker process. */
export interface ActivityDeps {
  config: AppConfig;
  store: ObjectStore;
  dataSource: DataSource;
  publisher: MapPublisher;
  /** Warm sandboxed Python for generic processors (one per worker process). */
  processorRuntime: ProcessorRuntime;
}
