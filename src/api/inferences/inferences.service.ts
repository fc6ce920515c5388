import type { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Client } from '@temporalio/client';
import { DataSource, In } from 'typeorm';
import { storageKeys } from '../../platform/storage/keys';
import { checkWebhookDestination, WebhookDestinationError } from '../../geo/webhooks/webhook-destination';
import {
  INFERENCE_STATUS_QUERY,
  INFERENCE_WORKFLOW_TYPE,
  type InferenceWorkflowInput,
  type InferenceWorkflowState,
  type ProcessorPlan,
  type TaskInput,
  type TaskPlan,
  type TaskState,
} from '../../../workflows/contract/types';
import { ApiError } from '../http/api-error';
export { countTasks } from '../../../workflows/contract/task-counts';
import { STEP_IDS, type StepId } from '../../../workflows/contract/status';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import { InferenceEntity, TaskEntity, WebhookDeliveryEntity } from '../../platform/database/entities';
import { GenericProcessorsService } from '../generic-processors/generic-processors.service';
import { ModelsService } from '../models/models.service';
import type { ObjectStore } from '../../platform/storage/object-store';
import { OBJECT_STORE } from '../storage.module';
import { TEMPORAL_CLIENT } from '../temporal.module';
import { workflowUiUrl } from '../../../workflows/contract/links';
import { TypedSearchAttributes } from '@temporalio/common';
import { CREATED_BY, INFERENCE_STATUS, MODEL_ID } from '../../../workflows/contract/search-attributes';
import type { Request } from 'express';
import { parseJsonField, parseOrThrow } from '../http/zod-validation';
import type { ModelEntity } from '../../platform/database/entities';
import { cloudSpecForInput } from '../../geo/model/cloud-model';
import { findModelByIdOrName } from '../../platform/database/model-lookup';
import { assetKeysForBands, dataSourceDefinition } from '../../geo/stac/stac';
import { receiveBulkUpload } from './bulk-upload';
import { DEFAULT_CHIP_RESOLUTION_M } from '../../../workflows/contract/model-spec';
import { buildTaskInputs } from './task-inputs';
import { uploadInferenceSchema, type CreateInferenceRequest, type UploadInferenceRequest } from './inferences.dto';

const LIVE_QUERY_TIMEOUT_MS = 3000;

interface PreparedInference {
  model: ModelEntity;
  webhookUrl?: string;
  processor?: ProcessorPlan;
}

export function taskId(inferenceId: string, index: number): string {
  return `${inferenceId}-task-${String(index + 1).padStart(3, '0')}`;
}

@Injectable()
export class InferencesService {
  private readonly logger = new Logger(InferencesService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly models: ModelsService,
    private readonly processors: GenericProcessorsService,
  ) {}

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
    const withoutClassification = 'spatial_domain' in request ? (request.spatial_domain.urls?.length ?? 0) > 0 : true;
    if (!withoutClassification) return;
    if (options.cloud_masking && this.config.CLOUD_MASK_MODEL_ID) {
      // Inputs without a classification band get their clouds from the configured cloud model.
      const cloudModel = await findModelByIdOrName(this.dataSource, this.config.CLOUD_MASK_MODEL_ID);
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
      await checkWebhookDestination(url, this.config.webhookAllowPrivateAddresses);
    } catch (error) {
      if (error instanceof WebhookDestinationError)
        throw ApiError.unprocessable(`webhook_url: ${error.message}`, 'webhook_url');
      throw error;
    }
    return url;
  }

  async create(
    request: CreateInferenceRequest,
    createdBy: string,
  ): Promise<{ inference: InferenceEntity; tasks: number }> {
    const prepared = await this.prepare(request, createdBy);
    const inputs = buildTaskInputs(request, {
      resolutionM: prepared.model.modelInputDataSpec.resolution ?? DEFAULT_CHIP_RESOLUTION_M,
      maxChipPixels: this.config.CHIP_MAX_PIXELS,
    });
    if (inputs.some((input) => input.kind === 'stac')) this.checkBandsForDataSource(request, prepared.model);
    const id = randomUUID();
    return { inference: await this.start(id, request, prepared, inputs, createdBy), tasks: inputs.length };
  }

  /** Checks everything about a request that does not depend on its inputs: model, webhook, processor. */
  async prepare(
    request: CreateInferenceRequest | UploadInferenceRequest,
    createdBy: string,
  ): Promise<PreparedInference> {
    const webhookUrl = await this.webhookFor(request);
    const model = await this.models.resolveForInference(request.model_id, request.model_display_name);
    await this.checkPostProcessing(request, model);
    const processor = request.generic_processor_id
      ? await this.processors.planForInference(request.generic_processor_id, createdBy)
      : undefined;
    return { model, webhookUrl, processor };
  }

  /**
   * Bulk upload: streams every GeoTIFF of the multipart request into storage (one task each), then starts
   * the inference. Bad files are not refused here: each fails its own task's data-fetch step with a reason.
   */
  async createFromUpload(
    httpRequest: Request,
    createdBy: string,
  ): Promise<{ inference: InferenceEntity; tasks: number }> {
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
      const inputs: TaskInput[] = uploads.map((file) => ({ kind: 'object', key: file.key, file_name: file.file_name }));
      const spatialDomain = { uploads: uploads.map((file) => file.file_name) };
      return {
        inference: await this.start(id, { ...request!, spatial_domain: spatialDomain }, ready, inputs, createdBy),
        tasks: uploads.length,
      };
    } catch (error) {
      await this.store.deletePrefix(storageKeys.inferencePrefix(id));
      throw error;
    }
  }

  private async start(
    id: string,
    request: Omit<CreateInferenceRequest, 'spatial_domain'> & { spatial_domain: Record<string, unknown> },
    prepared: PreparedInference,
    inputs: TaskInput[],
    createdBy: string,
  ): Promise<InferenceEntity> {
    const { model, webhookUrl, processor } = prepared;
    // The processor runs on the model output, just before the push (step numbers as in the contract).
    const steps: StepId[] = processor
      ? [STEP_IDS.dataFetch, STEP_IDS.modelInference, STEP_IDS.genericProcessor, STEP_IDS.pushToGeoserver]
      : [STEP_IDS.dataFetch, STEP_IDS.modelInference, STEP_IDS.pushToGeoserver];
    const plans: TaskPlan[] = inputs.map((input, index) => ({ task_id: taskId(id, index), task_index: index, input }));
    const inference = await this.dataSource.transaction(async (manager) => {
      const saved = await manager.save(
        manager.create(InferenceEntity, {
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
          postProcessing: request.post_processing ?? null,
          status: 'PENDING',
          statusMessage: null,
          workflowId: id,
          createdBy,
          startedAt: null,
          finishedAt: null,
          webhookUrl: request.webhook_url ?? null,
          webhookSecret: request.webhook_secret ?? null,
        }),
      );
      await manager.save(
        plans.map((plan) =>
          manager.create(TaskEntity, {
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
          }),
        ),
      );
      return saved;
    });
    const workflowInput = this.workflowInput(id, model.id, plans, steps, webhookUrl, processor);
    try {
      await this.temporal.workflow.start(INFERENCE_WORKFLOW_TYPE, {
        taskQueue: this.config.TEMPORAL_TASK_QUEUE,
        workflowId: id,
        args: [workflowInput],
        ...this.searchAttributes(model.id, createdBy),
      });
    } catch (error) {
      // Nothing runs without its workflow: remove the rows so no orphan PENDING inference remains.
      await this.dataSource.getRepository(InferenceEntity).delete({ id });
      this.logger.error(`could not start workflow for inference ${id}: ${(error as Error).message}`);
      throw new ApiError(
        503,
        `the workflow service is unavailable, inference not created: ${(error as Error).message}`,
      );
    }
    return inference;
  }

  /** Lets users find inferences in the Web UI by status, model and user (TEMPORAL_SEARCH_ATTRIBUTES). */
  private searchAttributes(modelId: string, createdBy: string): { typedSearchAttributes?: TypedSearchAttributes } {
    if (!this.config.TEMPORAL_SEARCH_ATTRIBUTES) return {};
    return {
      typedSearchAttributes: new TypedSearchAttributes([
        { key: INFERENCE_STATUS, value: 'PENDING' },
        { key: MODEL_ID, value: modelId },
        { key: CREATED_BY, value: createdBy },
      ]),
    };
  }

  private workflowInput(
    id: string,
    modelId: string,
    plans: TaskPlan[],
    steps: StepId[],
    webhookUrl: string | undefined | null,
    processor: ProcessorPlan | undefined,
  ): InferenceWorkflowInput {
    return {
      processor,
      searchAttributes: this.config.TEMPORAL_SEARCH_ATTRIBUTES || undefined,
      inferenceId: id,
      modelId,
      tasks: plans,
      steps,
      taskConcurrency: this.config.INFERENCE_TASK_CONCURRENCY,
      batchSize: this.config.INFERENCE_BATCH_TASKS,
      batchConcurrency: this.config.INFERENCE_BATCH_CONCURRENCY,
      stepGroupSize: this.config.INFERENCE_STEP_GROUP_SIZE,
      stepGroupValues: Math.round(this.config.INFERENCE_STEP_GROUP_MEGAVALUES * 1e6),
      taskQueues: {
        fetch: this.config.taskQueues.fetch,
        model: this.config.taskQueues.model,
        processor: this.config.taskQueues.processor,
      },
      webhook: webhookUrl
        ? {
            apiBaseUrl: this.config.publicBaseUrl,
            temporalUiUrl: this.config.temporalUiUrl,
            maximumAttempts: this.config.WEBHOOK_MAX_ATTEMPTS,
            initialIntervalSeconds: this.config.WEBHOOK_INITIAL_INTERVAL_SECONDS,
            maximumIntervalSeconds: this.config.WEBHOOK_MAX_INTERVAL_SECONDS,
          }
        : undefined,
    };
  }

  /**
   * Reruns the FAILED and STOPPED tasks of an ended inference as a new run of its workflow (same id), each
   * from its first unfinished step, reusing the outputs of the steps that finished. FINISHED tasks stay.
   */
  async retry(inference: InferenceEntity): Promise<number> {
    if (inference.status !== 'FAILED' && inference.status !== 'STOPPED') {
      throw ApiError.conflict(
        `inference ${inference.id} is ${inference.status}; only FAILED or STOPPED inferences can be retried`,
      );
    }
    const rows = await this.dataSource
      .getRepository(TaskEntity)
      .find({ where: { inferenceId: inference.id }, order: { taskIndex: 'ASC' } });
    const rerun = rows.filter((row) => row.status === 'FAILED' || row.status === 'STOPPED').length;
    if (rerun === 0) throw ApiError.conflict(`inference ${inference.id} has no failed or stopped task to retry`);
    const steps = rows[0].pipelineSteps.map((step) => step.process_id);
    const plans: TaskPlan[] = rows.map((row) => ({ task_id: row.taskId, task_index: row.taskIndex, input: row.input }));
    const resume: TaskState[] = rows.map((row) => ({
      task_id: row.taskId,
      task_index: row.taskIndex,
      status: row.status,
      pipeline_steps: row.pipelineSteps,
      current_key: row.currentKey ?? undefined,
      output_key: row.outputKey ?? undefined,
      message: row.statusMessage ?? undefined,
    }));
    const webhookUrl = inference.webhookUrl ?? this.config.DEFAULT_WEBHOOK_URL;
    const processor = inference.genericProcessorId
      ? await this.processors.planForRetry(inference.genericProcessorId)
      : undefined;
    const input = {
      ...this.workflowInput(inference.id, inference.modelId, plans, steps, webhookUrl, processor),
      resume,
    };
    await this.dataSource
      .getRepository(InferenceEntity)
      .update(
        { id: inference.id },
        { status: 'PENDING', statusMessage: null, finishedAt: null, retries: inference.retries + 1 },
      );
    try {
      await this.temporal.workflow.start(INFERENCE_WORKFLOW_TYPE, {
        taskQueue: this.config.TEMPORAL_TASK_QUEUE,
        workflowId: inference.workflowId,
        args: [input],
        ...this.searchAttributes(inference.modelId, inference.createdBy),
      });
    } catch (error) {
      await this.dataSource
        .getRepository(InferenceEntity)
        .update(
          { id: inference.id },
          { status: inference.status, statusMessage: inference.statusMessage, finishedAt: inference.finishedAt },
        );
      throw new ApiError(503, `the workflow service is unavailable, retry not started: ${(error as Error).message}`);
    }
    return rerun;
  }

  async getOwned(id: string, user: string): Promise<InferenceEntity> {
    const inference = await this.dataSource.getRepository(InferenceEntity).findOneBy({ id, createdBy: user });
    if (!inference) throw ApiError.notFound(`inference ${id} not found`);
    return inference;
  }

  /** The inference's COCO export as a stream, or 404 saying why there is none. */
  async cocoExport(inference: InferenceEntity): Promise<Readable> {
    if (!inference.cocoKey) {
      const reason =
        inference.status === 'PENDING' || inference.status === 'RUNNING'
          ? `the inference is ${inference.status}; the export is written when its tasks have finished`
          : inference.status === 'STOPPED'
            ? 'the inference was stopped before its tasks finished'
            : `the inference ended ${inference.status} without one (the export failed, or the inference predates COCO exports)`;
      throw ApiError.notFound(`no COCO export for inference ${inference.id} yet: ${reason}`);
    }
    try {
      return await this.store.getStream(inference.cocoKey);
    } catch (error) {
      this.logger.warn(`COCO export ${inference.cocoKey} unreadable: ${(error as Error).message}`);
      throw ApiError.notFound(`the COCO export of inference ${inference.id} is no longer in storage`);
    }
  }

  /** Live workflow state while the inference runs (falls back to the DB projection if Temporal is slow). */
  async liveState(inference: InferenceEntity): Promise<InferenceWorkflowState | undefined> {
    if (inference.status !== 'PENDING' && inference.status !== 'RUNNING') return undefined;
    const handle = this.temporal.workflow.getHandle(inference.workflowId);
    try {
      // A query waits for a worker to answer; with no worker polling it would wait (and retry) for long.
      // The abort signal ends the gRPC call and its retries, so nothing lingers after the fallback.
      return await this.temporal.withAbortSignal(AbortSignal.timeout(LIVE_QUERY_TIMEOUT_MS), () =>
        handle.query<InferenceWorkflowState>(INFERENCE_STATUS_QUERY),
      );
    } catch (error) {
      this.logger.warn(
        `status query of ${inference.id} failed, serving the DB projection: ${(error as Error).message}`,
      );
      return undefined;
    }
  }

  async tasks(inference: InferenceEntity): Promise<{ rows: TaskEntity[]; live?: InferenceWorkflowState }> {
    const rows = await this.dataSource
      .getRepository(TaskEntity)
      .find({ where: { inferenceId: inference.id }, order: { taskIndex: 'ASC' } });
    // Batched inferences run their tasks in child workflows, which project every step change to the DB;
    // the parent's query only knows finished batches, so the DB is the better source for them.
    if (rows.length > this.config.INFERENCE_BATCH_TASKS) return { rows };
    return { rows, live: await this.liveState(inference) };
  }

  async countsFor(inferenceIds: string[]): Promise<Map<string, string[]>> {
    const statuses = new Map<string, string[]>(inferenceIds.map((id) => [id, []]));
    if (inferenceIds.length === 0) return statuses;
    const rows = await this.dataSource
      .getRepository(TaskEntity)
      .find({ select: { inferenceId: true, status: true }, where: { inferenceId: In(inferenceIds) } });
    for (const row of rows) statuses.get(row.inferenceId)?.push(row.status);
    return statuses;
  }

  async list(
    user: string,
    limit: number,
    offset: number,
    status?: string,
    modelId?: string,
    modelDisplayName?: string,
  ): Promise<[InferenceEntity[], number]> {
    return this.dataSource.getRepository(InferenceEntity).findAndCount({
      where: {
        createdBy: user,
        ...(status ? { status: status as InferenceEntity['status'] } : {}),
        ...(modelId ? { modelId } : {}),
        ...(modelDisplayName ? { modelDisplayName } : {}),
      },
      order: { createdAt: 'DESC' },
      take: limit,
      skip: offset,
    });
  }

  /**
   * Stops a running inference: cancels its workflow, which cancels running activities (they notice through
   * their heartbeats), marks unfinished tasks and steps STOPPED and ends the inference STOPPED.
   * Returns false when the inference had already ended.
   */
  async stop(inference: InferenceEntity): Promise<boolean> {
    if (inference.status !== 'PENDING' && inference.status !== 'RUNNING') return false;
    try {
      await this.temporal.workflow.getHandle(inference.workflowId).cancel();
      return true;
    } catch (error) {
      if ((error as Error).name === 'WorkflowNotFoundError') return false;
      throw error;
    }
  }

  /** Deletes an inference, its tasks and its outputs; a running one is stopped first. */
  async delete(inference: InferenceEntity): Promise<void> {
    if (await this.stop(inference)) {
      const handle = this.temporal.workflow.getHandle(inference.workflowId);
      // Let the cancellation land so no activity writes outputs after they are deleted; terminate if slow.
      const closed = await Promise.race([
        handle.result().then(
          () => true,
          () => true,
        ),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000)),
      ]);
      if (!closed) await handle.terminate('inference deleted').catch(() => undefined);
    }
    await this.store.deletePrefix(storageKeys.inferencePrefix(inference.id));
    await this.dataSource.getRepository(InferenceEntity).delete({ id: inference.id });
  }

  async webhookDeliveries(inference: InferenceEntity): Promise<WebhookDeliveryEntity[]> {
    return this.dataSource
      .getRepository(WebhookDeliveryEntity)
      .find({ where: { inferenceId: inference.id }, order: { attemptedAt: 'ASC', id: 'ASC' } });
  }

  defaultWebhookUrl(): string | null {
    return this.config.DEFAULT_WEBHOOK_URL ?? null;
  }

  /** Download URL of the COCO export, or null while there is none. */
  cocoUrl(inference: InferenceEntity): string | null {
    return inference.cocoKey ? `${this.config.publicBaseUrl}/api/v2/inference/${inference.id}/coco` : null;
  }

  uiUrl(inference: InferenceEntity): string {
    return workflowUiUrl(this.config.temporalUiUrl, this.config.TEMPORAL_NAMESPACE, inference.workflowId);
  }
}

export function mergeTaskState(row: TaskEntity, live?: TaskState) {
  return {
    task_id: row.taskId,
    inference_id: row.inferenceId,
    task_index: row.taskIndex,
    status: live?.status ?? row.status,
    input: row.input,
    pipeline_steps: live?.pipeline_steps ?? row.pipelineSteps,
    output_key: live?.output_key ?? row.outputKey,
    message: live?.message ?? row.statusMessage,
    outputs: live
      ? Object.fromEntries(
          live.pipeline_steps.filter((step) => step.result).map((step) => [step.process_id, step.result]),
        )
      : (row.outputs ?? {}),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
