import type { DataSource } from 'typeorm';
import type { AppConfig } from '../src/platform/config/config';
import type { ObjectStore } from '../src/platform/storage/object-store';
import type { ModelThreadPool } from '../src/geo/model/model-thread';
import type { ProcessorRuntime } from '../src/geo/processors/processor-runtime';
import type { WarmProcessors } from '../src/geo/processors/warm-processors';
import type { ProcessorLimitSettings } from '../src/geo/processors/run-processor';
import type { MapPublisher } from '../src/geo/publish/publisher';
import type { StacFetchSettings } from '../src/geo/stac/stac-fetch';

/** The settings the activities read, themselves or through the domain code they call. */
export type ActivityConfig = StacFetchSettings &
  ProcessorLimitSettings &
  Pick<
    AppConfig,
    | 'DATA_DIR'
    | 'FETCH_TIMEOUT_MS'
    | 'FETCH_MAX_BYTES'
    | 'ONNX_INTRA_OP_THREADS'
    | 'INFERENCE_BATCH_SIZE'
    | 'ONNX_EXECUTION_PROVIDERS'
    | 'STEP_PROGRESS_INTERVAL_MS'
    | 'STEP_PROGRESS_SIGNAL_INTERVAL_MS'
    | 'MODEL_GROUP_MEMORY_MB'
    | 'MODEL_WINDOW_MIN_PIXELS'
    | 'MODEL_WINDOW_MB'
    | 'CLOUD_MASK_MODEL_ID'
    | 'PERMANENT_WATER_MASK_PATH'
    | 'GDAL_BIN_DIR'
    | 'DEFAULT_WEBHOOK_URL'
    | 'WEBHOOK_SECRET'
    | 'WEBHOOK_TIMEOUT_MS'
    | 'webhookAllowPrivateAddresses'
    | 'fetchAllowPrivateAddresses'
    | 'allowedInternalHosts'
  >;

/** What the activities need from the outside world; built once per worker process (src/pipeline/worker.ts). */
export interface ActivityDeps {
  config: ActivityConfig;
  store: ObjectStore;
  dataSource: DataSource;
  publisher: MapPublisher;
  /** Warm sandboxed Python for generic processors (one per worker process). */
  processorRuntime: ProcessorRuntime;
  /** Warm processes of lifecycle processors, on top of processorRuntime (one per processor and user). */
  warmProcessors: WarmProcessors;
  /** The threads that run the models (MODEL_CONCURRENCY of them); every model step of the process shares them. */
  modelThreads: ModelThreadPool;
}
