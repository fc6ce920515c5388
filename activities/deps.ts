import type { DataSource } from 'typeorm';
import type { AppConfig } from '../src/platform/config/config';
import type { ObjectStore } from '../src/platform/storage/object-store';
import type { ModelThreadPool } from '../src/geo/model/model-thread';
import type { ProcessorRuntime } from '../src/geo/processors/processor-runtime';
import type { MapPublisher } from '../src/geo/publish/publisher';

/** What the activities need from the outside world; built once per worker process. */
export interface ActivityDeps {
  config: AppConfig;
  store: ObjectStore;
  dataSource: DataSource;
  publisher: MapPublisher;
  /** Warm sandboxed Python for generic processors (one per worker process). */
  processorRuntime: ProcessorRuntime;
  /** The threads that run the models (MODEL_CONCURRENCY of them); every model step of the process shares them. */
  modelThreads: ModelThreadPool;
}
