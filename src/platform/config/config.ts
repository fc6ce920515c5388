import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { repoPath } from '../repo-root';
import { type AllowedHosts, parseAllowedHosts } from './allowed-hosts';
import { parseExecutionProviders } from '../../../workflows/contract/execution-providers';

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/**
 * Every configuration variable of the service, validated at start-up. Unset optional services fall back
 * to the embedded defaults (embedded Postgres engine, filesystem storage, a Temporal dev server child
 * process), so `npm start` works on a fresh machine. Documented in README.md "Configuration".
 */
export const configSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATA_DIR: z.string().default(path.resolve(process.cwd(), '.data')),
  PUBLIC_BASE_URL: z.string().url().optional(),
  API_KEYS: z.string().optional(),
  /** Keys of administrators (`key:email` pairs like API_KEYS): may add and revoke keys, see and change every model. */
  ADMIN_API_KEYS: z.string().optional(),
  /** Requests a minute per API key (0 = no limit); a key added at run time may have its own. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  /** Inference starts and retries a minute per API key (0 = no limit): one client cannot flood the workers. */
  RATE_LIMIT_INFERENCES_PER_MINUTE: z.coerce.number().int().min(0).default(30),
  LOG_LEVEL: z.enum(['error', 'warn', 'log', 'debug', 'verbose']).default('log'),
  // The web console's built files (npm run build writes dist/console); unset: that folder.
  CONSOLE_DIR: z.string().optional(),

  DATABASE_URL: z.string().optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  // How long a query waits for a pooled connection before it fails (no request hangs on a dead database).
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(5000),

  STORAGE_DRIVER: z.enum(['filesystem', 'minio']).default('filesystem'),
  STORAGE_DIR: z.string().optional(),
  STORAGE_BUCKET: z.string().min(3).default('geo-inference'),
  URL_SIGNING_SECRET: z.string().min(16).optional(),
  MINIO_ENDPOINT: z.string().optional(),
  MINIO_ACCESS_KEY: z.string().optional(),
  MINIO_SECRET_KEY: z.string().optional(),
  MINIO_REGION: z.string().default('us-east-1'),

  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  // How long creating an inference waits for Temporal to accept its workflow before answering 503 (the
  // SDK's last retry may add a second or so).
  TEMPORAL_START_TIMEOUT_MS: z.coerce.number().int().min(100).default(3000),
  // The workflow-start outbox: starts run in the background, this many at once; POST waits for its own start up
  // to WORKFLOW_START_WAIT_MS while a start slot is free (none once starts queue up), then answers PENDING anyway.
  WORKFLOW_START_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  WORKFLOW_START_WAIT_MS: z.coerce.number().int().min(0).default(1000),
  TEMPORAL_TASK_QUEUE: z.string().default('geo-inference'),
  TEMPORAL_FETCH_TASK_QUEUE: z.string().optional(),
  TEMPORAL_MODEL_TASK_QUEUE: z.string().optional(),
  TEMPORAL_PROCESSOR_TASK_QUEUE: z.string().optional(),
  WORKER_ROLES: z
    .string()
    .default('workflows,fetch,model,processor')
    .refine(
      (value) => value.split(',').every((role) => ['workflows', 'fetch', 'model', 'processor'].includes(role.trim())),
      'comma-separated subset of workflows,fetch,model,processor',
    ),
  TEMPORAL_CLI_PATH: z.string().optional(),
  TEMPORAL_SEARCH_ATTRIBUTES: booleanFromEnv.default('true'),
  TEMPORAL_DEV_PORT: z.coerce.number().int().default(7233),
  TEMPORAL_UI_PORT: z.coerce.number().int().default(8233),
  TEMPORAL_UI_URL: z.string().optional(),
  /**
   * AES-256-GCM key (32 bytes, base64) of the Temporal payload codec: workflow and activity payloads (inputs with
   * URLs, results, heartbeats, failure messages) are stored encrypted in Temporal; unset = payloads in clear.
   */
  TEMPORAL_CODEC_KEY: z
    .string()
    .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 bytes, base64 (openssl rand -base64 32)')
    .optional(),
  /** Earlier codec keys (comma-separated base64), still used to decode payloads encrypted before a key rotation. */
  TEMPORAL_CODEC_PREVIOUS_KEYS: z.string().optional(),
  /** Origins allowed to call the codec endpoint from a browser (the Temporal Web UI); unset: TEMPORAL_UI_URL's. */
  TEMPORAL_CODEC_CORS_ORIGINS: z.string().optional(),
  /**
   * OpenID Connect issuer of the Web UI sign-in. When set, the codec endpoint also accepts the signed-in user's
   * access token (the UI sends it with TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true), verified with the issuer's keys.
   */
  TEMPORAL_UI_OIDC_ISSUER_URL: z.string().url().optional(),
  /** The Web UI's OIDC client id: the default audience of its access tokens. */
  TEMPORAL_UI_OIDC_CLIENT_ID: z.string().optional(),
  /** Audiences (comma-separated) an access token must name in `aud` (or `azp`); unset: TEMPORAL_UI_OIDC_CLIENT_ID. */
  TEMPORAL_UI_OIDC_AUDIENCE: z.string().optional(),
  /** Signed-in users (comma-separated e-mails, verified by the provider) who may decode payloads in the Web UI. */
  TEMPORAL_UI_ADMIN_EMAILS: z.string().optional(),
  /** Groups or roles (comma-separated) whose members may decode payloads in the Web UI. */
  TEMPORAL_UI_ADMIN_GROUPS: z.string().optional(),
  /** The access token claim that lists the user's groups or roles; a dotted path for nested claims. */
  TEMPORAL_UI_OIDC_GROUPS_CLAIM: z.string().min(1).default('groups'),
  // host:port of the Temporal SDK's Prometheus endpoint in processes that run workers (unset: off).
  TEMPORAL_METRICS_BIND_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:9464')
    .optional(),
  // Port of the /metrics endpoint of a standalone worker (`npm run start:worker`); the API serves /metrics itself.
  WORKER_METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  RUN_WORKER: booleanFromEnv.optional(),
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).default(4),
  // How long an activity waits out an outage of object storage or PostgreSQL (retrying with capped backoff)
  // before the failure counts as one of the step's attempts.
  INFRA_RETRY_SECONDS: z.coerce.number().min(0).default(600),
  /** On SIGTERM, how long running activities may go on before they are cancelled and handed to another worker. */
  WORKER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).default(20),
  INFERENCE_TASK_CONCURRENCY: z.coerce.number().int().min(1).default(4),
  INFERENCE_BATCH_TASKS: z.coerce.number().int().min(1).max(1000).default(100),
  INFERENCE_BATCH_CONCURRENCY: z.coerce.number().int().min(1).default(2),
  /** Tasks whose data-fetch, model and publish steps run as one activity each (1 = one activity per task and step). */
  INFERENCE_STEP_GROUP_SIZE: z.coerce.number().int().min(1).max(100).default(25),
  /** A grouped model activity takes tasks up to this many input megavalues (width x height x bands / 1e6). */
  INFERENCE_STEP_GROUP_MEGAVALUES: z.coerce.number().min(0.1).default(10),

  PYTHON_BIN: z.string().optional(),
  PROCESSOR_TIMEOUT_SECONDS: z.coerce.number().min(1).max(86_400).default(600),
  PROCESSOR_MEMORY_MB: z.coerce.number().int().min(64).default(2048),
  PROCESSOR_MAX_PROCESSES: z.coerce.number().int().min(1).max(4096).default(32),
  PROCESSOR_MAX_LOG_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024),
  PROCESSOR_MAX_OUTPUT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(2 * 1024 * 1024 * 1024),
  PROCESSOR_TMP_MB: z.coerce.number().int().min(1).default(256),
  PROCESSOR_UID_BASE: z.coerce
    .number()
    .int()
    .min(1000)
    .max(2 ** 31 - 20_000)
    .default(200_000),
  PROCESSOR_PREIMPORT: z.string().default(''),
  /** A lifecycle processor's warm process with no task for this long is cleaned up and stopped. */
  PROCESSOR_IDLE_SECONDS: z.coerce.number().min(1).max(86_400).default(300),
  /** How often a worker checks whether the processors it keeps warm were deleted (then cleans them up). */
  PROCESSOR_DELETED_CHECK_SECONDS: z.coerce.number().min(1).max(3600).default(10),
  /** Directory of gdal_translate (COGs of generic-processor outputs); unset = PATH. */
  GDAL_BIN_DIR: z.string().optional(),
  FETCH_TIMEOUT_MS: z.coerce.number().int().min(1000).default(120_000),
  FETCH_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024 * 1024),
  BULK_UPLOAD_MAX_FILES: z.coerce.number().int().min(1).default(5000),
  MODEL_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(2 * 1024 * 1024 * 1024),
  ONNX_INTRA_OP_THREADS: z.coerce.number().int().min(0).default(0),
  /**
   * onnxruntime execution providers in order of preference: `auto` (CUDA when it can be loaded, else CPU) or a
   * list such as `cuda,cpu` or `cpu` (src/geo/model/execution-providers.ts).
   */
  ONNX_EXECUTION_PROVIDERS: z
    .string()
    .default('auto')
    .transform((value, context) => {
      try {
        return parseExecutionProviders(value);
      } catch (error) {
        context.addIssue({ code: z.ZodIssueCode.custom, message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** Tiles per session.run; unset: 4 on the CPU, 16 when the model runs on CUDA (a GPU wants bigger runs). */
  INFERENCE_BATCH_SIZE: z.coerce.number().int().min(1).optional(),
  /** Least time between two writes of a step's progress into the projection (per task and step). */
  STEP_PROGRESS_INTERVAL_MS: z.coerce.number().int().min(0).default(1000),
  /** A step running longer than this signals its count to the workflow (its query shows it) this often. */
  STEP_PROGRESS_SIGNAL_INTERVAL_MS: z.coerce.number().int().min(0).default(3000),
  /**
   * Model threads per worker process; 0 (auto): one per core, started only while there is work for them. With
   * ONNX_INTRA_OP_THREADS auto too, a model run alone uses every core, runs side by side one core each.
   */
  MODEL_CONCURRENCY: z.coerce.number().int().min(0).default(0),
  /** Memory a grouped model activity may fill with decoded inputs; fewer tasks run at once for large scenes. */
  MODEL_GROUP_MEMORY_MB: z.coerce.number().int().min(64).default(1024),
  /**
   * Inputs of at least this many pixels run window by window (activities/scene-inference.ts): read by ranged reads,
   * written block row by block row, resumable mid-scene. Default 4096 x 4096.
   */
  MODEL_WINDOW_MIN_PIXELS: z.coerce
    .number()
    .int()
    .min(1)
    .default(4096 * 4096),
  /** Decoded input that a scene's windows in flight hold together (each window's rows follow from it). */
  MODEL_WINDOW_MB: z.coerce.number().int().min(1).default(256),

  // GeoServer REST publishing of task outputs; unset = the built-in publisher.
  GEOSERVER_URL: z.string().url().optional(),
  GEOSERVER_USER: z.string().default('admin'),
  GEOSERVER_PASSWORD: z.string().optional(),
  GEOSERVER_TIMEOUT_MS: z.coerce.number().int().min(1000).default(60_000),

  // Built-in map tiles (src/tiles): lifetime of the token in tile URL templates, decoded-block cache.
  TILE_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 86_400)
    .default(86_400),
  TILE_CACHE_MB: z.coerce.number().int().min(8).default(256),

  // STAC APIs of the imagery sources: workflows/contract/imagery-sources.ts says which setting is whose.
  STAC_API_URL: z.string().url().default('https://earth-search.aws.element84.com/v1'),
  STAC_COLLECTION: z.string().min(1).default('sentinel-2-l2a'),
  HLS_STAC_API_URL: z.string().url().default('https://cmr.earthdata.nasa.gov/stac/LPCLOUD'),
  /** Bearer token for NASA Earthdata (HLS assets are behind Earthdata login). */
  EARTHDATA_TOKEN: z.string().optional(),
  STAC_PAGE_LIMIT: z.coerce.number().int().min(1).max(1000).default(100),
  STAC_MAX_PAGES: z.coerce.number().int().min(1).max(1000).default(20),
  /**
   * Largest chip (width x height at the model's resolution) a bbox / polygon / tile may need. 150 M admits a
   * whole Sentinel-2 MGRS tile at 10 m (10980^2 = 120.6 M pixels; the WGS84 bbox of a tile's footprint, on the
   * scene's UTM grid, is up to ~20 % larger at high latitudes and zone edges): chips are built and read in windows,
   * so the limit bounds work per task, not memory.
   */
  CHIP_MAX_PIXELS: z.coerce.number().int().min(1024).default(150_000_000),
  /** Reference permanent-water raster (GeoTIFF path or http(s) URL; non-zero = water) for permanent_water_masking. */
  PERMANENT_WATER_MASK_PATH: z.string().min(1).optional(),
  /** Input URLs, STAC asset hrefs and the water reference may reach loopback/private/link-local addresses. */
  FETCH_ALLOW_PRIVATE_ADDRESSES: booleanFromEnv.optional(),
  /** Trusted internal hosts (names, `*.suffix`, addresses, CIDR ranges) inputs and webhooks may reach anyway. */
  ALLOWED_INTERNAL_HOSTS: z.string().optional(),
  /** A registered cloud model (id or display name) for cloud_masking of inputs without a classification band. */
  CLOUD_MASK_MODEL_ID: z.string().min(1).optional(),

  /** OTLP/HTTP endpoint (e.g. http://otel-collector:4318): traces API -> workflow -> activities; unset = off. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('geo-inference'),

  WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]{16,}$/, 'must be a Standard Webhooks secret: whsec_ + base64')
    .optional(),
  DEFAULT_WEBHOOK_URL: z.string().url().optional(),
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: booleanFromEnv.optional(),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(12),
  WEBHOOK_INITIAL_INTERVAL_SECONDS: z.coerce.number().min(0.1).default(5),
  WEBHOOK_MAX_INTERVAL_SECONDS: z.coerce.number().min(1).default(900),
});

/** The venv that scripts/provision.sh creates (numpy, rasterio for processors), else python3 on PATH. */
function defaultPythonBin(): string {
  const venvPython = repoPath('.venv', 'bin', 'python');
  return fs.existsSync(venvPython) ? venvPython : 'python3';
}

export type AppConfig = Omit<z.infer<typeof configSchema>, 'PYTHON_BIN'> & {
  PYTHON_BIN: string;
  storageDir: string;
  publicBaseUrl: string;
  temporalUiUrl: string;
  /** Keys from the configuration (API_KEYS, ADMIN_API_KEYS) -> their user and whether they are admin keys. */
  apiKeys: Map<string, string>;
  adminApiKeys: Map<string, string>;
  /** Origins the codec endpoint answers CORS requests from. */
  temporalCodecCorsOrigins: string[];
  /** Verification of Web UI sign-in tokens at the codec endpoint; undefined without TEMPORAL_UI_OIDC_ISSUER_URL. */
  temporalUiOidc?: TemporalUiOidcConfig;
  /** Task queue of each step kind (defaults to TEMPORAL_TASK_QUEUE). */
  taskQueues: { workflows: string; fetch: string; model: string; processor: string };
  /** Webhooks may target loopback/private networks (default: everywhere but production). */
  webhookAllowPrivateAddresses: boolean;
  /** Inputs may be fetched from loopback/private networks (default: everywhere but production). */
  fetchAllowPrivateAddresses: boolean;
  allowedInternalHosts: AllowedHosts;
};

export interface TemporalUiOidcConfig {
  issuerUrl: string;
  audiences: string[];
  adminEmails: Set<string>;
  adminGroups: Set<string>;
  groupsClaim: string;
}

export class ConfigError extends Error {}

const commaList = (raw: string | undefined) =>
  (raw ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

function temporalUiOidcOf(values: z.infer<typeof configSchema>): TemporalUiOidcConfig | undefined {
  if (!values.TEMPORAL_UI_OIDC_ISSUER_URL) return undefined;
  const audiences = commaList(values.TEMPORAL_UI_OIDC_AUDIENCE || values.TEMPORAL_UI_OIDC_CLIENT_ID);
  if (audiences.length === 0)
    throw new ConfigError(
      'TEMPORAL_UI_OIDC_ISSUER_URL needs TEMPORAL_UI_OIDC_AUDIENCE or TEMPORAL_UI_OIDC_CLIENT_ID (the audience of its tokens)',
    );
  return {
    issuerUrl: values.TEMPORAL_UI_OIDC_ISSUER_URL.replace(/\/$/, ''),
    audiences,
    adminEmails: new Set(commaList(values.TEMPORAL_UI_ADMIN_EMAILS).map((email) => email.toLowerCase())),
    adminGroups: new Set(commaList(values.TEMPORAL_UI_ADMIN_GROUPS)),
    groupsClaim: values.TEMPORAL_UI_OIDC_GROUPS_CLAIM,
  };
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '';
  }
}

/** Parses `API_KEYS` (or ADMIN_API_KEYS): comma-separated `key:email` pairs. */
export function parseApiKeys(raw: string | undefined, variable = 'API_KEYS'): Map<string, string> {
  const keys = new Map<string, string>();
  if (!raw) return keys;
  for (const entry of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const separator = entry.indexOf(':');
    if (separator <= 0 || separator === entry.length - 1) {
      throw new ConfigError(`${variable} entry "${entry.slice(0, 4)}…" must look like key:user@example.com`);
    }
    keys.set(entry.slice(0, separator), entry.slice(separator + 1));
  }
  return keys;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const values = parsed.data;
  if (
    values.STORAGE_DRIVER === 'minio' &&
    (!values.MINIO_ENDPOINT || !values.MINIO_ACCESS_KEY || !values.MINIO_SECRET_KEY)
  ) {
    throw new ConfigError('STORAGE_DRIVER=minio needs MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY');
  }
  if (values.GEOSERVER_URL && values.GEOSERVER_PASSWORD === undefined) {
    throw new ConfigError('GEOSERVER_URL needs GEOSERVER_PASSWORD (and GEOSERVER_USER, default admin)');
  }
  let allowedInternalHosts: AllowedHosts;
  try {
    allowedInternalHosts = parseAllowedHosts(values.ALLOWED_INTERNAL_HOSTS);
  } catch (error) {
    throw new ConfigError(`invalid configuration: ALLOWED_INTERNAL_HOSTS: ${(error as Error).message}`);
  }
  const apiKeys = parseApiKeys(values.API_KEYS);
  const adminApiKeys = parseApiKeys(values.ADMIN_API_KEYS, 'ADMIN_API_KEYS');
  for (const key of adminApiKeys.keys()) {
    if (apiKeys.has(key)) throw new ConfigError('a key is in both API_KEYS and ADMIN_API_KEYS: list it once');
  }
  if (apiKeys.size === 0 && adminApiKeys.size === 0) {
    if (values.NODE_ENV === 'production') throw new ConfigError('API_KEYS or ADMIN_API_KEYS must be set in production');
    // Embedded default so `npm start` works out of the box (its one user administers it); the start-up log says so.
    adminApiKeys.set('dev-key', 'dev@localhost');
  }
  const temporalUiUrl = (values.TEMPORAL_UI_URL ?? `http://localhost:${values.TEMPORAL_UI_PORT}`).replace(/\/$/, '');
  return {
    ...values,
    PYTHON_BIN: values.PYTHON_BIN ?? defaultPythonBin(),
    storageDir: values.STORAGE_DIR ?? path.join(values.DATA_DIR, 'objects'),
    publicBaseUrl: (values.PUBLIC_BASE_URL ?? `http://localhost:${values.PORT}`).replace(/\/$/, ''),
    temporalUiUrl,
    apiKeys,
    adminApiKeys,
    temporalCodecCorsOrigins: (values.TEMPORAL_CODEC_CORS_ORIGINS ?? originOf(temporalUiUrl))
      .split(',')
      .map((origin) => origin.trim().replace(/\/$/, ''))
      .filter(Boolean),
    temporalUiOidc: temporalUiOidcOf(values),
    taskQueues: {
      workflows: values.TEMPORAL_TASK_QUEUE,
      fetch: values.TEMPORAL_FETCH_TASK_QUEUE ?? values.TEMPORAL_TASK_QUEUE,
      model: values.TEMPORAL_MODEL_TASK_QUEUE ?? values.TEMPORAL_TASK_QUEUE,
      processor: values.TEMPORAL_PROCESSOR_TASK_QUEUE ?? values.TEMPORAL_TASK_QUEUE,
    },
    webhookAllowPrivateAddresses: values.WEBHOOK_ALLOW_PRIVATE_ADDRESSES ?? values.NODE_ENV !== 'production',
    fetchAllowPrivateAddresses: values.FETCH_ALLOW_PRIVATE_ADDRESSES ?? values.NODE_ENV !== 'production',
    allowedInternalHosts,
  };
}
