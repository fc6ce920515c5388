import {
  Column,
  CreateDateColumn,
  DeleteDateColumn,
  Entity,
  Index,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import type { InferenceStatus, ModelStatus, TaskStatus } from '../../../workflows/contract/status';
import type { GeoserverPushConfig, ModelInputDataSpec } from '../../../workflows/contract/model-spec';
import type { PipelineStepState, TaskInput } from '../../../workflows/contract/types';

@Entity({ name: 'models' })
export class ModelEntity {
  @PrimaryColumn('uuid') id!: string;
  /** Unique per owner and version among models not deleted (models_owner_display_name_version_key). */
  @Column({ name: 'display_name', type: 'varchar', length: 200 }) displayName!: string;
  /** The user (API key's e-mail) who may change or delete the model; admins may too. */
  @Column({ type: 'varchar', length: 320 }) owner!: string;
  /** `private`: only the owner (and admins) see and use it; `public`: every user may. */
  @Column({ type: 'varchar', length: 16 }) visibility!: ModelVisibility;
  /** 1, then n+1 each time the owner registers the same display name again. */
  @Column({ type: 'int' }) version!: number;
  @Column({ type: 'text', nullable: true }) description!: string | null;
  @Column({ type: 'varchar', length: 16 }) status!: ModelStatus;
  @Column({ name: 'status_message', type: 'text', nullable: true }) statusMessage!: string | null;
  @Column({ name: 'model_input_data_spec', type: 'jsonb' }) modelInputDataSpec!: ModelInputDataSpec;
  @Column({ name: 'geoserver_push', type: 'jsonb', nullable: true }) geoserverPush!: GeoserverPushConfig | null;
  @Column({ name: 'file_key', type: 'varchar', length: 1024 }) fileKey!: string;
  @Column({ name: 'file_name', type: 'varchar', length: 255 }) fileName!: string;
  @Column({ name: 'file_sha256', type: 'varchar', length: 64 }) fileSha256!: string;
  @Column({ name: 'file_size', type: 'bigint' }) fileSize!: string;
  @Column({ name: 'onnx_signature', type: 'jsonb', nullable: true }) onnxSignature!: unknown;
  /** The golden pair checked at registration (null: none was given). */
  @Column({ type: 'jsonb', nullable: true }) golden!: ModelGoldenCheck | null;
  /** The InstaGeo task API's key for the model (`model_type` of POST /api/run-model); null: none. */
  @Column({ name: 'model_type', type: 'varchar', length: 100, nullable: true }) modelType!: string | null;
  @Column({ name: 'created_by', type: 'varchar', length: 320 }) createdBy!: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
  /**
   * Soft delete: new inferences cannot use a deleted model, running ones finish with it (activities load models by
   * id whatever this says). A plain column, not TypeORM's DeleteDateColumn, so those lookups need no withDeleted.
   */
  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true }) deletedAt!: Date | null;
  @Column({ name: 'deleted_by', type: 'varchar', length: 320, nullable: true }) deletedBy!: string | null;
}

export type ModelVisibility = 'private' | 'public';

/** Where a model's golden pair is stored and how its check at registration came out. */
export interface ModelGoldenCheck {
  input_key: string;
  expected_output_key: string;
  width: number;
  height: number;
  bands: number;
  /** A pixel differs when |output - expected| is over this. */
  tolerance: number;
  /** The most differing pixels accepted. */
  max_differing_pixels: number;
  max_difference: number;
  differing_pixels: number;
  checked_at: string;
}

/** An API key added at run time (keys from API_KEYS / ADMIN_API_KEYS live in the configuration). */
@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryColumn('uuid') id!: string;
  /** Hex SHA-256 of the key: the key itself is shown once, when created, and never stored. */
  @Column({ name: 'key_sha256', type: 'char', length: 64, select: false }) keySha256!: string;
  /** The key's first characters, so a user can tell their keys apart. */
  @Column({ name: 'key_prefix', type: 'varchar', length: 16 }) keyPrefix!: string;
  @Index() @Column({ name: 'user_email', type: 'varchar', length: 320 }) userEmail!: string;
  @Column({ type: 'varchar', length: 200, nullable: true }) name!: string | null;
  @Column({ type: 'boolean' }) admin!: boolean;
  /** Requests a minute for this key; null: RATE_LIMIT_PER_MINUTE. */
  @Column({ name: 'rate_limit_per_minute', type: 'int', nullable: true }) rateLimitPerMinute!: number | null;
  @Column({ name: 'created_by', type: 'varchar', length: 320 }) createdBy!: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true }) revokedAt!: Date | null;
  @Column({ name: 'revoked_by', type: 'varchar', length: 320, nullable: true }) revokedBy!: string | null;
}

@Entity({ name: 'inferences' })
export class InferenceEntity {
  @PrimaryColumn('uuid') id!: string;
  @Index() @Column({ name: 'model_id', type: 'uuid' }) modelId!: string;
  @Column({ name: 'model_display_name', type: 'varchar', length: 200 }) modelDisplayName!: string;
  @Column({ type: 'text', nullable: true }) description!: string | null;
  @Column({ type: 'text', nullable: true }) location!: string | null;
  @Column({ name: 'spatial_domain', type: 'jsonb' }) spatialDomain!: Record<string, unknown>;
  @Column({ name: 'temporal_domain', type: 'jsonb' }) temporalDomain!: string[];
  @Column({ type: 'int', nullable: true }) maxcc!: number | null;
  @Column({ name: 'fine_tuning_id', type: 'varchar', length: 200, nullable: true }) fineTuningId!: string | null;
  @Column({ name: 'generic_processor_id', type: 'uuid', nullable: true }) genericProcessorId!: string | null;
  @Column({ name: 'post_processing', type: 'jsonb', nullable: true }) postProcessing!: Record<string, boolean> | null;
  /** The request's chip_size: the model runs on tiles of this size (dynamic models; fixed ones: their tile_size). */
  @Column({ name: 'chip_size', type: 'int', nullable: true }) chipSize!: number | null;
  @Index() @Column({ type: 'varchar', length: 16 }) status!: InferenceStatus;
  @Column({ name: 'status_message', type: 'text', nullable: true }) statusMessage!: string | null;
  @Column({ name: 'workflow_id', type: 'varchar', length: 200 }) workflowId!: string;
  @Index() @Column({ name: 'created_by', type: 'varchar', length: 320 }) createdBy!: string;
  @Index() @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
  @Column({ name: 'started_at', type: 'timestamptz', nullable: true }) startedAt!: Date | null;
  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true }) finishedAt!: Date | null;
  @Column({ name: 'webhook_url', type: 'text', nullable: true }) webhookUrl!: string | null;
  /** How many times the failed/stopped tasks were rerun (each rerun is a new run of the same workflow id). */
  @Column({ type: 'int', default: 0 }) retries!: number;
  /** Object-storage key of the COCO export of the finished tasks' masks, once written. */
  @Column({ name: 'coco_key', type: 'varchar', length: 1024, nullable: true }) cocoKey!: string | null;
  /** Standard Webhooks secret of this inference's endpoint; never returned by the API. */
  @Column({ name: 'webhook_secret', type: 'text', nullable: true, select: false }) webhookSecret!: string | null;
  /** Tile and events tokens are signed with this; raising it revokes every token issued before. */
  @Column({ name: 'token_generation', type: 'int', default: 0 }) tokenGeneration!: number;
  /** Set when the owner revoked the webhook: no more deliveries (not even to DEFAULT_WEBHOOK_URL). */
  @Column({ name: 'webhook_revoked_at', type: 'timestamptz', nullable: true }) webhookRevokedAt!: Date | null;
}

@Entity({ name: 'inference_tasks' })
@Index(['inferenceId', 'taskIndex'], { unique: true })
export class TaskEntity {
  @PrimaryColumn({ name: 'task_id', type: 'varchar', length: 120 }) taskId!: string;
  @Column({ name: 'inference_id', type: 'uuid' }) inferenceId!: string;
  @Column({ name: 'task_index', type: 'int' }) taskIndex!: number;
  @Column({ type: 'jsonb' }) input!: TaskInput;
  @Index() @Column({ type: 'varchar', length: 16 }) status!: TaskStatus;
  @Column({ name: 'pipeline_steps', type: 'jsonb' }) pipelineSteps!: PipelineStepState[];
  @Column({ name: 'output_key', type: 'varchar', length: 1024, nullable: true }) outputKey!: string | null;
  @Column({ name: 'current_key', type: 'varchar', length: 1024, nullable: true }) currentKey!: string | null;
  @Column({ type: 'jsonb', nullable: true }) outputs!: Record<string, unknown> | null;
  @Column({ name: 'status_message', type: 'text', nullable: true }) statusMessage!: string | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
}

@Entity({ name: 'webhook_deliveries' })
export class WebhookDeliveryEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id!: string;
  @Column({ name: 'inference_id', type: 'uuid' }) inferenceId!: string;
  @Column({ name: 'webhook_id', type: 'varchar', length: 120 }) webhookId!: string;
  @Column({ name: 'event_type', type: 'varchar', length: 64 }) eventType!: string;
  @Column({ type: 'text' }) url!: string;
  @Column({ type: 'int' }) attempt!: number;
  @Column({ name: 'attempted_at', type: 'timestamptz' }) attemptedAt!: Date;
  /** Unset while the attempt is PENDING. */
  @Column({ name: 'duration_ms', type: 'int', nullable: true }) durationMs!: number | null;
  @Column({ name: 'status_code', type: 'int', nullable: true }) statusCode!: number | null;
  @Column({ type: 'text', nullable: true }) error!: string | null;
  @Column({ type: 'boolean' }) delivered!: boolean;
  /** Recorded before the request is sent (PENDING), completed after its answer; see WebhookDeliveryStatus. */
  @Column({ type: 'varchar', length: 16 }) status!: WebhookDeliveryStatus;
}

/**
 * PENDING: being sent; DELIVERED: 2xx; FAILED: an error or another status, retried; REJECTED: not retried
 * (410 Gone, no secret, a refused address); UNKNOWN: its worker was lost before the answer came, so the
 * receiver may or may not have processed it (receivers deduplicate on webhook-id).
 */
export type WebhookDeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED' | 'REJECTED' | 'UNKNOWN';

@Entity({ name: 'generic_processors' })
export class GenericProcessorEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ type: 'varchar', length: 200 }) name!: string;
  @Column({ type: 'text', nullable: true }) description!: string | null;
  @Column({ name: 'processor_parameters', type: 'jsonb' }) processorParameters!: Record<string, unknown>;
  /** The contract's status of an uploaded processor: FINISHED once stored and validated. */
  @Column({ type: 'varchar', length: 16 }) status!: string;
  @Column({ name: 'file_name', type: 'varchar', length: 255 }) fileName!: string;
  @Column({ name: 'file_key', type: 'varchar', length: 1024 }) fileKey!: string;
  @Column({ name: 'file_sha256', type: 'varchar', length: 64 }) fileSha256!: string;
  @Column({ name: 'file_size', type: 'int' }) fileSize!: number;
  /** 'script' (seed 000's one-shot script) or 'lifecycle' (setup once, process many), detected at upload. */
  @Column({ type: 'varchar', length: 16, default: 'script' }) style!: 'script' | 'lifecycle';
  @Index() @Column({ name: 'created_by', type: 'varchar', length: 320 }) createdBy!: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
  /** Soft delete: a deleted processor cannot be used by new inferences; running ones keep their snapshot. */
  @DeleteDateColumn({ name: 'deleted_at', type: 'timestamptz', nullable: true }) deletedAt!: Date | null;
}

/** An inference created through the InstaGeo task API (POST /api/run-model): its request as sent. */
@Entity({ name: 'instageo_tasks' })
export class InstageoTaskEntity {
  @PrimaryColumn({ name: 'inference_id', type: 'uuid' }) inferenceId!: string;
  @Column({ name: 'created_by', type: 'varchar', length: 320 }) createdBy!: string;
  @Column({ name: 'model_type', type: 'varchar', length: 100 }) modelType!: string;
  @Column({ type: 'jsonb' }) request!: Record<string, unknown>;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}

export const ENTITIES = [
  ModelEntity,
  ApiKeyEntity,
  InferenceEntity,
  TaskEntity,
  WebhookDeliveryEntity,
  GenericProcessorEntity,
  InstageoTaskEntity,
];
