import { randomUUID } from 'node:crypto';
import { checkChipSize } from './chip-size';
import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { storageKeys } from '../../platform/storage/keys';
import { checkWebhookDestination, WebhookDestinationError } from '../../geo/webhooks/webhook-destination';
import { cloudSpecForInput } from '../../geo/model/cloud-model';
import {
  checkUrlAgainstPolicy,
  inputAddressPolicy,
  redactUrl,
  type Resolver,
  systemResolver,
  UrlPolicyError,
  webhookAddressPolicy,
} from '../../geo/net/address-policy';
import { runLimited } from '../../geo/concurrency';
import { assetKeysForBands, dataSourceDefinition } from '../../geo/stac/stac';
import type { ProcessorPlan, TaskInput, TaskPlan } from '../../../workflows/contract/types';
import { DEFAULT_CHIP_RESOLUTION_M } from '../../../workflows/contract/model-spec';
import type { AppConfig } from '../../platform/config/config';
import type { ModelEntity } from '../../platform/database/entities';
import { InferencesRepository, ModelsRepository } from '../../platform/database/repositories';
import type { ObjectStore } from '../../platform/storage/object-store';
import { APP_CONFIG } from '../config.module';
import { OBJECT_STORE } from '../storage.module';
import { ApiError } from '../http/api-error';
import { parseJsonField, parseOrThrow } from '../http/zod-validation';
import { GenericProcessorsService } from '../generic-processors/generic-processors.service';
import { ModelsService } from '../models/models.service';
import { receiveBulkUpload } from './bulk-upload';
import { inferenceView, type InferenceView } from './inference-views';
import { uploadInferenceSchema, type CreateInferenceRequest, type UploadInferenceRequest } from './inferences.dto';
import { planSteps } from '../../../workflows/contract/steps';
import { buildTaskInputs, taskId } from './task-inputs';
import { checkSeriesForModel, resolveTaskTemporal, uploadTaskInputs } from './task-temporal';
import { workflowInput } from './workflow-input';
import { WorkflowStartOutbox } from './workflow-start-outbox';

/** The 503 of a create while Temporal does not answer: nothing was stored, the client retries. */
function temporalUnavailable(reason: string): ApiError {
  return new ApiError(503, `the workflow service is unavailable, inference not created: ${reason}`, undefined, {
    dependency: 'temporal',
    retry_after_seconds: 5,
  });
}

export interface PreparedInference {
  model: ModelEntity;
  webhookUrl?: string;
  processor?: ProcessorPlan;
}

type StartRequest = Omit<CreateInferenceRequest, 'spatial_domain'> & { spatial_domain: Record<string, unknown> };

/** Creating an inference: checks the request, stores the inference and its tasks, starts its workflow. */
@Injectable()
export class InferenceCreationService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly inferences: InferencesRepository,
    private readonly modelRows: ModelsRepository,
    private readonly outbox: WorkflowStartOutbox,
    private readonly models: ModelsService,
    private readonly processors: GenericProcessorsService,
  ) {}

  async create(request: CreateInferenceRequest, createdBy: string): Promise<InferenceView> {
    const { prepared, inputs } = await this.validate(request, createdBy);
    return this.start(randomUUID(), request, prepared, inputs, createdBy);
  }

  /**
   * Every check of a create (model, webhook, processor, areas, limits, bands of the data source) and the tasks it
   * would run; stores and starts nothing. The dry run answers from this, so it fails exactly where a create would.
   */
  async validate(
    request: CreateInferenceRequest,
    createdBy: string,
  ): Promise<{ prepared: PreparedInference; inputs: TaskInput[] }> {
    const prepared = await this.prepare(request, createdBy);
    const inputs = buildTaskInputs(request, {
      resolutionM: prepared.model.modelInputDataSpec.resolution ?? DEFAULT_CHIP_RESOLUTION_M,
      maxChipPixels: this.config.CHIP_MAX_PIXELS,
      temporal: resolveTaskTemporal(prepared.model, request.temporal),
    });
    if (inputs.some((input) => input.kind === 'stac')) this.checkBandsForDataSource(request, prepared.model);
    await this.checkInputUrls(request.spatial_domain.urls ?? []);
    checkSeriesForModel(request.spatial_domain.urls ?? [], prepared.model);
    return { prepared, inputs };
  }

  /**
   * Bulk upload: streams every GeoTIFF of the multipart request into storage (one task each), then starts
   * the inference. Bad files are not refused here: each fails its own task's data-fetch step with a reason.
   */
  async createFromUpload(httpRequest: Request, createdBy: string): Promise<InferenceView> {
    const id = randomUUID();
    let request: UploadInferenceRequest | undefined;
    let prepared: Promise<PreparedInference> | undefined;
    const uploads = await receiveBulkUpload(
      httpRequest,
      this.store,
      (index, fileName) => storageKeys.uploadedInput(id, index, fileName),
      (raw) => {
        request = parseOrThrow(uploadInferenceSchema, parseJsonField(raw, 'inference'), 'inference');
        // Model and webhook checks run while the files stream in; their errors are raised below.
        prepared = this.prepare(request, createdBy);
        prepared.catch(() => undefined);
      },
      { maxFiles: this.config.BULK_UPLOAD_MAX_FILES, maxFileBytes: this.config.FETCH_MAX_BYTES },
    );
    try {
      const ready = await prepared!;
      const inputs = uploadTaskInputs(uploads, request!.series, ready.model);
      const spatialDomain = { uploads: uploads.map((file) => file.file_name) };
      return await this.start(id, { ...request!, spatial_domain: spatialDomain }, ready, inputs, createdBy);
    } catch (error) {
      await this.store.deletePrefix(storageKeys.inferencePrefix(id));
      throw error;
    }
  }

  /** Checks everything about a request that does not depend on its inputs: model, webhook, processor. */
  private async prepare(
    request: CreateInferenceRequest | UploadInferenceRequest,
    createdBy: string,
  ): Promise<PreparedInference> {
    const webhookUrl = await this.webhookFor(request);
    const model = await this.models.resolveForInference(request.model_id, request.model_display_name, createdBy);
    await this.checkPostProcessing(request, model);
    checkChipSize(request.chip_size, model.modelInputDataSpec);
    const processor = request.generic_processor_id
      ? await this.processors.planForInference(request.generic_processor_id, createdBy)
      : undefined;
    return { model, webhookUrl, processor };
  }

  private async start(
    id: string,
    request: StartRequest,
    prepared: PreparedInference,
    inputs: TaskInput[],
    createdBy: string,
  ): Promise<InferenceView> {
    const { model, webhookUrl, processor } = prepared;
    // Temporal known to be down (the outbox's recent starts or a cached probe): refused before anything is stored.
    const unavailable = await this.outbox.unavailableReason();
    if (unavailable !== undefined) throw temporalUnavailable(unavailable);
    // The step registry decides the plan; a retry keeps the plan its tasks were created with.
    const steps = planSteps({ genericProcessor: processor !== undefined });
    const plans: TaskPlan[] = inputs.map((input, index) => ({ task_id: taskId(id, index), task_index: index, input }));
    const input = workflowInput(this.config, {
      inferenceId: id,
      modelId: model.id,
      tasks: plans,
      steps,
      webhookUrl,
      processor,
    });
    const inference = await this.inferences.createWithTasks(
      {
        id,
        modelId: model.id,
        modelDisplayName: model.displayName,
        description: request.description ?? null,
        location: request.location ?? null,
        spatialDomain: request.spatial_domain,
        temporalDomain: request.temporal_domain,
        maxcc: request.maxcc ?? null,
        fineTuningId: request.fine_tuning_id ?? null,
        genericProcessorId: request.generic_processor_id ?? null,
        // Zod leaves keys that were not given out, so every value present is a boolean.
        postProcessing: (request.post_processing as Record<string, boolean> | undefined) ?? null,
        chipSize: request.chip_size ?? null,
        status: 'PENDING',
        statusMessage: null,
        workflowId: id,
        createdBy,
        startedAt: null,
        finishedAt: null,
        webhookUrl: request.webhook_url ?? null,
        webhookSecret: request.webhook_secret ?? null,
      },
      plans.map((plan) => ({
        taskId: plan.task_id,
        inferenceId: id,
        taskIndex: plan.task_index,
        input: plan.input,
        status: 'WAITING',
        pipelineSteps: steps.map((processId, stepNumber) => ({
          process_id: processId,
          step_number: stepNumber,
          status: 'WAITING' as const,
        })),
        outputKey: null,
        outputs: null,
        statusMessage: null,
      })),
      { input, createdBy, leaseMs: this.outbox.leaseMs },
    );
    // Started from the outbox row committed with the inference: now, or when Temporal answers again.
    await this.outbox.startNew({ inferenceId: id, input, createdBy, attempts: 0 });
    return inferenceView(this.config, inference, new Array<string>(plans.length).fill('WAITING'));
  }

  /** Resolves the webhook of a request (its own or the configured default) and checks it can be used. */
  private async webhookFor(request: CreateInferenceRequest | UploadInferenceRequest): Promise<string | undefined> {
    const url = request.webhook_url ?? this.config.DEFAULT_WEBHOOK_URL;
    if (!url) return undefined;
    if (!request.webhook_secret && !this.config.WEBHOOK_SECRET) {
      throw ApiError.unprocessable(
        'webhook_secret: required with webhook_url because the server has no WEBHOOK_SECRET configured',
        'webhook_secret',
      );
    }
    try {
      await checkWebhookDestination(url, webhookAddressPolicy(this.config));
    } catch (error) {
      if (error instanceof WebhookDestinationError)
        throw ApiError.unprocessable(`webhook_url: ${error.message}`, 'webhook_url');
      throw error;
    }
    return url;
  }

  /**
   * post_processing needs a classification band (SCL / Fmask), which only STAC chips have, and
   * permanent_water_masking needs the configured reference raster.
   */
  private async checkPostProcessing(
    request: CreateInferenceRequest | UploadInferenceRequest,
    model: ModelEntity,
  ): Promise<void> {
    const options = request.post_processing ?? {};
    if (options.permanent_water_masking && !this.config.PERMANENT_WATER_MASK_PATH) {
      throw ApiError.unprocessable(
        'post_processing.permanent_water_masking: this server has no reference water raster configured (PERMANENT_WATER_MASK_PATH)',
        'post_processing.permanent_water_masking',
      );
    }
    const reference = this.config.PERMANENT_WATER_MASK_PATH;
    if (options.permanent_water_masking && reference && /^[a-z][a-z0-9+.-]*:\/\//i.test(reference)) {
      try {
        await checkUrlAgainstPolicy(reference, inputAddressPolicy(this.config));
      } catch (error) {
        if (!(error instanceof UrlPolicyError)) throw error;
        throw ApiError.unprocessable(
          `post_processing.permanent_water_masking: the reference water raster PERMANENT_WATER_MASK_PATH (${redactUrl(reference)}) ${error.message}`,
          'post_processing.permanent_water_masking',
        );
      }
    }
    const withoutClassification = 'spatial_domain' in request ? (request.spatial_domain.urls?.length ?? 0) > 0 : true;
    if (!withoutClassification) return;
    if (options.cloud_masking && this.config.CLOUD_MASK_MODEL_ID) {
      // Inputs without a classification band get their clouds from the configured cloud model.
      const cloudModel = await this.modelRows.findByIdOrName(this.config.CLOUD_MASK_MODEL_ID);
      if (!cloudModel || cloudModel.status !== 'READY') {
        throw ApiError.unprocessable(
          `post_processing.cloud_masking: the configured cloud model ${this.config.CLOUD_MASK_MODEL_ID} (CLOUD_MASK_MODEL_ID) is ${cloudModel ? cloudModel.status : 'not registered'}`,
          'post_processing.cloud_masking',
        );
      }
      const { missing } = cloudSpecForInput(cloudModel.modelInputDataSpec, model.modelInputDataSpec);
      if (missing.length > 0) {
        throw ApiError.unprocessable(
          `post_processing.cloud_masking: the cloud model ${cloudModel.displayName} needs band(s) ${missing.join(', ')}, which model ${model.displayName}'s inputs do not have`,
          'post_processing.cloud_masking',
        );
      }
    }
    for (const key of ['cloud_masking', 'snow_ice_masking'] as const) {
      if (options[key] && !(key === 'cloud_masking' && this.config.CLOUD_MASK_MODEL_ID)) {
        throw ApiError.unprocessable(
          `post_processing.${key}: inputs given by URL or upload carry no scene classification band (Sentinel-2 SCL or HLS Fmask) to mask with` +
            (key === 'cloud_masking' ? ' and no cloud model is configured (CLOUD_MASK_MODEL_ID)' : '') +
            '; request the area by spatial_domain bbox, polygons or tiles instead (their chips keep the classification band)',
          `post_processing.${key}`,
        );
      }
    }
  }

  /** Input URLs must pass the address policy now; the worker checks every connection again (DNS rebinding). */
  private async checkInputUrls(entries: Array<string | string[]>): Promise<void> {
    // A time series entry's URLs are checked one by one, each named by its path (spatial_domain.urls.2.1).
    const fields: string[] = [];
    const urls = entries.flatMap((entry, index) =>
      typeof entry === 'string'
        ? (fields.push(`spatial_domain.urls.${index}`), [entry])
        : entry.map((url, frame) => (fields.push(`spatial_domain.urls.${index}.${frame}`), url)),
    );
    const policy = inputAddressPolicy(this.config);
    const lookups = new Map<string, Promise<string[]>>();
    const resolve: Resolver = (host) => {
      if (!lookups.has(host)) lookups.set(host, systemResolver(host));
      return lookups.get(host)!;
    };
    const outcomes: unknown[] = new Array(urls.length).fill(null);
    await runLimited(urls.length, 16, async (index) => {
      await checkUrlAgainstPolicy(urls[index]!, policy, resolve).catch((error: unknown) => (outcomes[index] = error));
    });
    const index = outcomes.findIndex((outcome) => outcome !== null);
    if (index < 0) return;
    const error = outcomes[index];
    if (!(error instanceof UrlPolicyError)) throw error;
    const field = fields[index]!;
    throw ApiError.unprocessable(`${field}: ${redactUrl(urls[index]!)} ${error.message}`, field);
  }

  /** Every model band must be an asset of the data source, else no chip can be built for it. */
  private checkBandsForDataSource(request: CreateInferenceRequest, model: ModelEntity): void {
    const source = dataSourceDefinition(request.data_source ?? 'sentinel-2-l2a', this.config.STAC_COLLECTION);
    const names = model.modelInputDataSpec.bands.map((band) => band.name);
    const collections = Object.keys(source.bandAssets).map((collection) =>
      collection === '*' ? undefined : collection,
    );
    const missing = names.filter((name) =>
      collections.every((collection) => assetKeysForBands(source, collection, [name]).missing.length > 0),
    );
    if (missing.length > 0) {
      throw ApiError.unprocessable(
        `data_source: model ${model.displayName} needs band(s) ${missing.join(', ')} that ${source.label} (${source.collections.join(', ')}) does not provide`,
        'data_source',
      );
    }
  }
}
