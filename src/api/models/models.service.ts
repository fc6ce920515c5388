import { randomUUID } from 'node:crypto';
import { checkOutputKindAgainstGraph } from './output-kind-check';
import { taskTypeOf } from '../../../workflows/contract/model-spec';
import * as fs from 'node:fs';
import { Inject, Injectable } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { sha256OfFile } from '../../geo/model/model-cache';
import { validateOnnxModel } from '../../geo/model/segmentation';
import { datesInputMismatch, temporalShapeMismatch } from '../../geo/model/temporal-input';
import { storageKeys } from '../../platform/storage/keys';
import { ApiError } from '../http/api-error';
import { parseJsonField, parseOrThrow } from '../http/zod-validation';
import type { ModelEntity, ModelGoldenCheck } from '../../platform/database/entities';
import {
  MODEL_NAME_UNIQUE_INDEX,
  ModelsRepository,
  type ModelChanges,
  type ModelViewer,
  type NewModel,
} from '../../platform/database/repositories';
import { OBJECT_STORE } from '../storage.module';
import type { ObjectStore } from '../../platform/storage/object-store';
import { checkGoldenPair } from './golden-pair';
import {
  createModelSchema,
  type CreateModelRequest,
  type ListModelsQuery,
  type UpdateModelRequest,
} from './models.dto';
import type { Principal } from '../auth/principal';

const viewerOf = (principal: Principal): ModelViewer => ({ user: principal.email, admin: principal.admin });

export interface UploadedModelFile {
  path: string;
  originalname: string;
  size: number;
}

export interface ModelView {
  id: string;
  display_name: string;
  description: string | null;
  owner: string;
  visibility: ModelEntity['visibility'];
  version: number;
  status: string;
  status_message: string | null;
  model_input_data_spec: ModelEntity['modelInputDataSpec'];
  geoserver_push: ModelEntity['geoserverPush'];
  model_file_path: string;
  model_file_sha256: string;
  model_file_size: number;
  onnx_signature: unknown;
  golden: ModelGoldenCheck | null;
  model_type: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export function toModelView(model: ModelEntity): ModelView {
  return {
    id: model.id,
    display_name: model.displayName,
    description: model.description,
    owner: model.owner,
    visibility: model.visibility,
    version: model.version,
    status: model.status,
    status_message: model.statusMessage,
    model_input_data_spec: model.modelInputDataSpec,
    geoserver_push: model.geoserverPush,
    model_file_path: model.fileKey,
    model_file_sha256: model.fileSha256,
    model_file_size: Number(model.fileSize),
    onnx_signature: model.onnxSignature,
    golden: model.golden ?? null,
    model_type: model.modelType ?? null,
    created_by: model.createdBy,
    created_at: model.createdAt.toISOString(),
    updated_at: model.updatedAt.toISOString(),
  };
}

type Dim = number | string | undefined;

/** Checks the ONNX graph against the declared spec: NCHW input with one channel per band, one logit per class. */
function checkSignatureAgainstSpec(
  signature: Awaited<ReturnType<typeof validateOnnxModel>>,
  request: CreateModelRequest,
): void {
  const spec = request.model_input_data_spec;
  // A time series model may take its frames' dates as a second input: the image input is the other one.
  const datesName = spec.temporal?.dates_input?.name;
  const input = signature.inputs.find((entry) => entry.name !== datesName);
  const output = signature.outputs[0];
  if (!input || !output)
    throw ApiError.unprocessable('model_file: the ONNX graph has no input or no output', 'model_file');
  const inputDims = (input.dims ?? []) as Dim[];
  const isFixed = (dim: Dim): dim is number => typeof dim === 'number' && dim > 0;
  if (spec.temporal) {
    const mismatch =
      temporalShapeMismatch({ ...spec, temporal: spec.temporal }, input.name, inputDims) ??
      datesInputMismatch(
        spec.temporal,
        signature.inputs.map((entry) => ({ name: entry.name, dims: (entry.dims ?? []) as Dim[] })),
      );
    if (mismatch) throw ApiError.unprocessable(`${mismatch.field}: ${mismatch.message}`, mismatch.field);
  } else if (inputDims.length !== 4) {
    throw ApiError.unprocessable(
      `model_file: input "${input.name}" has shape [${inputDims.join(', ')}]; a [batch, bands, height, width] input is required`,
      'model_file',
    );
  }
  if (!spec.temporal && isFixed(inputDims[1]) && inputDims[1] !== spec.bands.length) {
    throw ApiError.unprocessable(
      `model_input_data_spec.bands: the model takes ${inputDims[1]} input channels but ${spec.bands.length} bands are declared`,
      'model_input_data_spec.bands',
    );
  }
  for (const axis of spec.temporal ? [] : [2, 3]) {
    if (isFixed(inputDims[axis]) && inputDims[axis] !== spec.tile_size) {
      throw ApiError.unprocessable(
        `model_input_data_spec.tile_size: the model input is ${inputDims[2]}x${inputDims[3]} but tile_size is ${spec.tile_size}`,
        'model_input_data_spec.tile_size',
      );
    }
  }
  const outputDims = (output.dims ?? []) as Dim[];
  checkOutputKindAgainstGraph(spec, { inputDims, outputDims, outputType: output.type });
  if (
    taskTypeOf(spec) === 'segmentation' &&
    outputDims.length === 4 &&
    isFixed(outputDims[1]) &&
    outputDims[1] !== spec.classes.length
  ) {
    throw ApiError.unprocessable(
      `model_input_data_spec.classes: the model outputs ${outputDims[1]} class channels but ${spec.classes.length} classes are declared`,
      'model_input_data_spec.classes',
    );
  }
}

/** The files of a model registration: the .onnx file and, optionally, a golden pair. */
export interface ModelUploads {
  model_file?: UploadedModelFile;
  golden_input?: UploadedModelFile;
  golden_output?: UploadedModelFile;
}

/** Tries at a version number when concurrent registrations of the same name take the same one. */
const VERSION_ATTEMPTS = 5;

@Injectable()
export class ModelsService {
  constructor(
    private readonly models: ModelsRepository,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
  ) {}

  /**
   * POST /api/v2/models: the uploaded files and the `model` form field (JSON). The temp files of the upload are
   * removed whatever happens.
   */
  async register(files: ModelUploads, modelField: unknown, createdBy: string): Promise<ModelView> {
    try {
      const file = files.model_file;
      if (!file) throw ApiError.badRequest('model_file: required file field (an .onnx file) is missing', 'model_file');
      const request = parseOrThrow(createModelSchema, parseJsonField(modelField, 'model'), 'model');
      return toModelView(await this.create(request, { ...files, model_file: file }, createdBy));
    } finally {
      for (const upload of Object.values(files)) if (upload) fs.rmSync(upload.path, { force: true });
    }
  }

  /**
   * Checks and stores a model. A display name the owner already has adds version n+1 of it. With a golden pair
   * the model must reproduce the expected output on the golden input (422 naming golden_output otherwise).
   */
  async create(
    request: CreateModelRequest,
    files: ModelUploads & { model_file: UploadedModelFile },
    createdBy: string,
  ): Promise<ModelEntity> {
    const file = files.model_file;
    const fileName = file.originalname.split(/[\\/]/).pop() ?? '';
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.onnx$/i.test(fileName)) {
      throw ApiError.badRequest(
        'model_file: file name must end in .onnx and use only letters, digits, _ . -',
        'model_file',
      );
    }
    if (file.size === 0) throw ApiError.badRequest('model_file: the file is empty', 'model_file');
    if (Boolean(files.golden_input) !== Boolean(files.golden_output)) {
      const missing = files.golden_input ? 'golden_output' : 'golden_input';
      throw ApiError.badRequest(
        `${missing}: a golden pair needs both golden_input (a GeoTIFF) and golden_output (its expected output)`,
        missing,
      );
    }
    if (request.golden && !files.golden_input) {
      throw ApiError.badRequest(
        'golden: a golden tolerance needs the golden_input and golden_output files',
        'golden_input',
      );
    }
    let signature: Awaited<ReturnType<typeof validateOnnxModel>>;
    try {
      signature = await validateOnnxModel(file.path);
    } catch (error) {
      throw ApiError.unprocessable(`model_file: not a loadable ONNX model: ${(error as Error).message}`, 'model_file');
    }
    checkSignatureAgainstSpec(signature, request);
    const tolerance = request.golden ?? { tolerance: 0, max_differing_pixels: 0 };
    const comparison =
      files.golden_input && files.golden_output
        ? await checkGoldenPair(
            file.path,
            request.model_input_data_spec,
            { input: files.golden_input, expectedOutput: files.golden_output },
            tolerance,
          )
        : undefined;

    const id = randomUUID();
    const fileKey = storageKeys.modelFile(id, fileName);
    const sha256 = await sha256OfFile(file.path);
    const stored: string[] = [];
    const put = async (key: string, filePath: string, contentType: string) => {
      await this.store.putFile(key, filePath, { contentType });
      stored.push(key);
    };
    try {
      await put(fileKey, file.path, 'application/octet-stream');
      let golden: ModelGoldenCheck | null = null;
      if (comparison && files.golden_input && files.golden_output) {
        // Kept for later checks of the model's inputs (per-band ranges) and for users to see what was checked.
        const inputKey = storageKeys.modelGoldenInput(id);
        const outputKey = storageKeys.modelGoldenOutput(id);
        await put(inputKey, files.golden_input.path, 'image/tiff');
        await put(outputKey, files.golden_output.path, 'image/tiff');
        golden = {
          input_key: inputKey,
          expected_output_key: outputKey,
          width: comparison.width,
          height: comparison.height,
          bands: comparison.bands,
          tolerance: tolerance.tolerance,
          max_differing_pixels: tolerance.max_differing_pixels,
          max_difference: comparison.max_difference,
          differing_pixels: comparison.differing_pixels,
          checked_at: new Date().toISOString(),
        };
      }
      const model: NewModel = {
        id,
        displayName: request.display_name,
        description: request.description ?? null,
        owner: createdBy,
        visibility: request.visibility,
        version: 1,
        status: 'READY',
        statusMessage: null,
        modelInputDataSpec: request.model_input_data_spec,
        geoserverPush: request.geoserver_push ?? null,
        fileKey,
        fileName,
        fileSha256: sha256,
        fileSize: String(file.size),
        onnxSignature: signature,
        golden,
        modelType: request.model_type ?? null,
        createdBy,
      };
      return await this.insertNextVersion(model);
    } catch (error) {
      for (const key of stored) await this.store.deleteObject(key);
      throw error;
    }
  }

  /** Inserts the model as the next version of its owner's display name; a concurrent registration retries. */
  private async insertNextVersion(model: NewModel): Promise<ModelEntity> {
    for (let attempt = 1; ; attempt++) {
      const version = await this.models.nextVersion(model.owner, model.displayName);
      try {
        return await this.models.create({ ...model, version });
      } catch (error) {
        if (!isNameConflict(error) || attempt >= VERSION_ATTEMPTS) {
          if (isNameConflict(error))
            throw ApiError.conflict(
              `display_name: concurrent registrations of "${model.displayName}": try again`,
              'display_name',
            );
          throw error;
        }
      }
    }
  }

  /** A model the caller may see: their own, a public one, or any for an admin; 404 otherwise. */
  async get(id: string, caller: Principal): Promise<ModelView> {
    return toModelView(await this.visibleOrNotFound(id, caller));
  }

  private async visibleOrNotFound(id: string, caller: Principal): Promise<ModelEntity> {
    const model = await this.models.findVisible(id, viewerOf(caller));
    if (!model) throw ApiError.notFound(`model ${id} not found`);
    return model;
  }

  /** The model, if the caller may change it (owner or admin): 404 when they cannot see it, 403 when only see it. */
  private async changeableOrThrow(id: string, caller: Principal): Promise<ModelEntity> {
    const model = await this.visibleOrNotFound(id, caller);
    if (!caller.admin && model.owner !== caller.email)
      throw new ApiError(403, `model ${id} belongs to ${model.owner}: only its owner or an admin may change it`);
    return model;
  }

  async list(
    caller: Principal,
    query: Pick<ListModelsQuery, 'limit' | 'offset' | 'visibility' | 'owner' | 'display_name' | 'versions'>,
  ): Promise<{ results: ModelView[]; total_records: number }> {
    const [results, total] = await this.models.list(
      viewerOf(caller),
      {
        visibility: query.visibility,
        owner: query.owner,
        displayName: query.display_name,
        latestOnly: query.versions === 'latest',
      },
      query.limit,
      query.offset,
    );
    return { results: results.map(toModelView), total_records: total };
  }

  /** PATCH /api/v2/models/{id}: display name (unique per owner), description, visibility, GeoServer settings. */
  async update(id: string, request: UpdateModelRequest, caller: Principal): Promise<ModelView> {
    const model = await this.changeableOrThrow(id, caller);
    if (
      request.display_name !== undefined &&
      (await this.models.ownerHasDisplayName(model.owner, request.display_name, model.id))
    ) {
      throw ApiError.conflict(
        `display_name: ${model.owner} already has a model named "${request.display_name}"`,
        'display_name',
      );
    }
    const changes: ModelChanges = {};
    if (request.display_name !== undefined) changes.displayName = request.display_name;
    if (request.description !== undefined) changes.description = request.description;
    if (request.visibility !== undefined) changes.visibility = request.visibility;
    if (request.geoserver_push !== undefined) changes.geoserverPush = request.geoserver_push;
    if (request.model_type !== undefined) changes.modelType = request.model_type;
    try {
      return toModelView(await this.models.update(model.id, changes));
    } catch (error) {
      if (isNameConflict(error))
        throw ApiError.conflict(
          `display_name: ${model.owner} already has a model named "${request.display_name}"`,
          'display_name',
        );
      throw error;
    }
  }

  /**
   * Soft delete (owner or admin): the model disappears from lookups and new inferences naming it get 422;
   * inferences already running finish with it (their steps load it by id), so its file stays.
   */
  async delete(id: string, caller: Principal): Promise<void> {
    const model = await this.changeableOrThrow(id, caller);
    await this.models.softDelete(model.id, caller.email);
  }

  /**
   * Resolves `model_id` / `model_display_name` of an inference request to a READY model the user may use: their
   * own or a public one. `model_id` pins one version; a name picks the latest READY version of the user's own
   * model of that name first; a name that only other users' public models have must be unambiguous.
   */
  async resolveForInference(
    modelId: string | undefined,
    displayName: string | undefined,
    user: string,
  ): Promise<ModelEntity> {
    const viewer: ModelViewer = { user, admin: false };
    const field = modelId ? 'model_id' : 'model_display_name';
    let model: ModelEntity | null;
    if (modelId) {
      model = await this.models.findVisible(modelId, viewer);
      if (!model) {
        const deleted = await this.models.findById(modelId);
        if (deleted?.deletedAt && (deleted.owner === user || deleted.visibility === 'public'))
          throw ApiError.unprocessable(`model_id: model ${modelId} has been deleted`, 'model_id');
      }
    } else {
      const candidates = await this.models.findVisibleByDisplayName(displayName ?? '', viewer);
      const own = candidates.filter((candidate) => candidate.owner === user);
      const owners = new Set(candidates.map((candidate) => candidate.owner));
      if (own.length === 0 && owners.size > 1) {
        throw ApiError.unprocessable(
          `model_display_name: "${displayName}" names public models of ${owners.size} users (${[...owners].join(', ')}): give model_id`,
          'model_display_name',
        );
      }
      // The versions of the chosen owner (own first, else the one public owner), newest first: the latest READY.
      const versions = candidates.filter((candidate) => candidate.owner === candidates[0]?.owner);
      model = versions.find((candidate) => candidate.status === 'READY') ?? versions[0] ?? null;
    }
    if (!model) throw ApiError.unprocessable(`${field}: model ${modelId ?? displayName} not found`, field);
    if (modelId && displayName && model.displayName !== displayName) {
      throw ApiError.unprocessable(
        `model_display_name: "${displayName}" does not match model ${modelId} ("${model.displayName}")`,
        'model_display_name',
      );
    }
    if (model.status !== 'READY')
      throw ApiError.unprocessable(`${field}: model ${model.displayName} is ${model.status}, not READY`, field);
    return model;
  }
}

function isNameConflict(error: unknown): boolean {
  return error instanceof QueryFailedError && error.message.includes(MODEL_NAME_UNIQUE_INDEX);
}
