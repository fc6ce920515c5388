import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Inject, Injectable } from '@nestjs/common';
import { processorRuntimeScript } from '../../geo/processors/processor-runtime';
import { storageKeys } from '../../platform/storage/keys';
import type { ProcessorPlan } from '../../../workflows/contract/types';
import { ApiError } from '../http/api-error';
import { parseJsonField, parseOrThrow } from '../http/zod-validation';
import type { AppConfig } from '../../platform/config/config';
import { APP_CONFIG } from '../config.module';
import type { GenericProcessorEntity } from '../../platform/database/entities';
import type { ProcessorWorkerState } from '../../platform/database/processor-states';
import { GenericProcessorsRepository } from '../../platform/database/repositories';
import type { ObjectStore } from '../../platform/storage/object-store';
import { OBJECT_STORE } from '../storage.module';
import {
  createGenericProcessorSchema,
  type CreateGenericProcessorRequest,
  PROCESSOR_FILE_NAME,
} from './generic-processors.dto';

const run = promisify(execFile);
/** The contract: processor download URLs are valid for 8 hours. */
export const PROCESSOR_URL_TTL_SECONDS = 8 * 60 * 60;
const FILE_FIELD = 'generic_processor_file';

export interface UploadedScript {
  originalname: string;
  size: number;
  buffer: Buffer;
}

export interface GenericProcessorView {
  id: string;
  name: string;
  description: string | null;
  processor_parameters: Record<string, unknown>;
  processor_file_path: string;
  /** 'script' (seed 000's contract) or 'lifecycle' (setup once, process many), detected at upload. */
  style: 'script' | 'lifecycle';
  status: string;
  created_at: string;
  updated_at: string;
  created_by: string;
  processor_presigned_url?: string;
  /** GET of one processor: its state on the workers (lifecycle processors: where it is warm, last error). */
  runtime?: {
    warm_workers: string[];
    last_error: string | null;
    last_error_at: string | null;
    workers: ProcessorWorkerState[];
  };
}

export function toProcessorView(entity: GenericProcessorEntity): GenericProcessorView {
  return {
    id: entity.id,
    name: entity.name,
    description: entity.description,
    processor_parameters: entity.processorParameters,
    processor_file_path: entity.fileKey,
    style: entity.style ?? 'script',
    status: entity.status,
    created_at: entity.createdAt.toISOString(),
    updated_at: entity.updatedAt.toISOString(),
    created_by: entity.createdBy,
  };
}

@Injectable()
export class GenericProcessorsService {
  constructor(
    private readonly processors: GenericProcessorsRepository,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** POST /api/v2/generic-processor: the `generic_processor` form field (JSON) and the uploaded script. */
  async register(
    processorField: unknown,
    file: UploadedScript | undefined,
    createdBy: string,
  ): Promise<GenericProcessorView> {
    const request = parseOrThrow(
      createGenericProcessorSchema,
      parseJsonField(processorField, 'generic_processor'),
      'generic_processor',
    );
    if (!file)
      throw ApiError.badRequest(
        'generic_processor_file: required file field (a .py script) is missing',
        'generic_processor_file',
      );
    return toProcessorView(await this.create(request, file, createdBy));
  }

  async create(
    request: CreateGenericProcessorRequest,
    file: UploadedScript,
    createdBy: string,
  ): Promise<GenericProcessorEntity> {
    const fileName = file.originalname;
    if (!fileName.toLowerCase().endsWith('.py'))
      throw ApiError.badRequest(`${FILE_FIELD}: must be a Python file ending in .py (got "${fileName}")`, FILE_FIELD);
    if (!PROCESSOR_FILE_NAME.test(fileName) || fileName.length > 200) {
      throw ApiError.badRequest(
        `${FILE_FIELD}: file name "${fileName}" is not allowed: use letters, digits, _ - and dots, no directories, no leading dot`,
        FILE_FIELD,
      );
    }
    if (file.size === 0) throw ApiError.badRequest(`${FILE_FIELD}: the file is empty`, FILE_FIELD);
    const style = await this.checkScript(file.buffer);
    const id = randomUUID();
    const fileKey = storageKeys.processorFile(id, fileName);
    await this.store.putObject(fileKey, file.buffer, { contentType: 'text/x-python; charset=utf-8' });
    try {
      return await this.processors.create({
        id,
        name: request.name,
        description: request.description ?? null,
        processorParameters: request.processor_parameters,
        status: 'FINISHED',
        fileName,
        fileKey,
        fileSha256: createHash('sha256').update(file.buffer).digest('hex'),
        fileSize: file.size,
        style,
        createdBy,
      });
    } catch (error) {
      await this.store.deleteObject(fileKey);
      throw error;
    }
  }

  /**
   * The file must compile and be a script (an `if __name__ == "__main__":` entry point) or a lifecycle
   * processor (a `process` function or a BaseProcessor class): checked by Python's ast, which says which.
   */
  private async checkScript(source: Buffer): Promise<'script' | 'lifecycle'> {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'geo-processor-check-'));
    try {
      const file = path.join(dir, 'script.py');
      await fsp.writeFile(file, source);
      const { stdout } = await run(this.config.PYTHON_BIN, [processorRuntimeScript(), 'check', file], {
        timeout: 30_000,
        maxBuffer: 1024 * 1024,
      });
      const verdict = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
        ok?: boolean;
        message?: string;
        style?: 'script' | 'lifecycle';
      };
      if (!verdict.ok)
        throw ApiError.unprocessable(`${FILE_FIELD}: ${verdict.message ?? 'not a valid processor script'}`, FILE_FIELD);
      return verdict.style ?? 'script';
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  /** A processor of this user that is not deleted, or 404. */
  private async owned(id: string, user: string): Promise<GenericProcessorEntity> {
    const entity = await this.processors.findOwned(id, user);
    if (!entity) throw ApiError.notFound(`generic processor ${id} not found`);
    return entity;
  }

  /** The processor with a signed URL of its script. */
  async get(id: string, user: string): Promise<GenericProcessorView> {
    const entity = await this.owned(id, user);
    const workers = await this.processors.workerStates(entity.id);
    const latest = workers
      .filter((worker) => worker.last_error_at)
      .sort((a, b) => b.last_error_at!.localeCompare(a.last_error_at!))[0];
    return {
      ...toProcessorView(entity),
      processor_presigned_url: await this.store.signedGetUrl(entity.fileKey, PROCESSOR_URL_TTL_SECONDS),
      runtime: {
        warm_workers: workers.filter((worker) => worker.warm_processes > 0).map((worker) => worker.worker),
        last_error: latest?.last_error ?? null,
        last_error_at: latest?.last_error_at ?? null,
        workers,
      },
    };
  }

  async list(
    user: string,
    limit: number,
    offset: number,
  ): Promise<{ results: GenericProcessorView[]; total_records: number }> {
    const [results, total] = await this.processors.list(user, limit, offset);
    return { results: results.map(toProcessorView), total_records: total };
  }

  async softDelete(id: string, user: string): Promise<void> {
    const entity = await this.owned(id, user);
    // The script stays in storage: inferences that already use it (and their retries) still run it.
    await this.processors.softDelete(entity.id);
  }

  /** For a new inference: the user's processor, refused (422) when unknown or deleted. */
  async planForInference(id: string, user: string): Promise<ProcessorPlan> {
    const entity = await this.processors.findIncludingDeleted(id, user);
    if (!entity)
      throw ApiError.unprocessable(`generic_processor_id: generic processor ${id} not found`, 'generic_processor_id');
    if (entity.deletedAt)
      throw ApiError.unprocessable(`generic_processor_id: generic processor ${id} was deleted`, 'generic_processor_id');
    return toPlan(entity, user);
  }

  /** For a retry: the processor the inference was created with, even if deleted since. */
  async planForRetry(id: string): Promise<ProcessorPlan | undefined> {
    const entity = await this.processors.findIncludingDeleted(id);
    return entity ? toPlan(entity) : undefined;
  }
}

function toPlan(entity: GenericProcessorEntity, user?: string): ProcessorPlan {
  return {
    style: entity.style ?? 'script',
    user: user ?? entity.createdBy,
    id: entity.id,
    name: entity.name,
    file_key: entity.fileKey,
    file_name: entity.fileName,
    parameters: entity.processorParameters,
  };
}
