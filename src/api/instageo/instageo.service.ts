import { Injectable } from '@nestjs/common';
import { InstageoTasksRepository, ModelsRepository, TasksRepository } from '../../platform/database/repositories';
import type { InferenceStatus } from '../../../workflows/contract/status';
import { ApiError, type ApiErrorBody } from '../http/api-error';
import { parseOrThrow } from '../http/zod-validation';
import { InferenceCreationService } from '../inferences/inference-creation.service';
import { createInferenceSchema, type CreateInferenceRequest } from '../inferences/inferences.dto';
import { InferencesService } from '../inferences/inferences.service';
import { INSTAGEO_DATA_SOURCES, type ListTasksQuery, type RunModelRequest } from './instageo.dto';
import { instageoTaskView, type BboxTaskState, type InstageoTaskView } from './instageo-views';

/**
 * The v2 fields an InstaGeo field maps to (most specific first): errors the v2 path raises name the InstaGeo
 * field instead, so a client of this API reads its own field names.
 */
const FIELD_NAMES: Array<[RegExp, string]> = [
  [/^spatial_domain\.bbox/, 'bboxes'],
  [/^spatial_domain/, 'bboxes'],
  [/^temporal_domain(\.\d+)?/, 'date'],
  [/^maxcc/, 'cloud_coverage'],
  [/^model_(id|display_name)/, 'model_type'],
  [/^temporal\.num_steps/, 'num_steps'],
  [/^temporal\.temporal_step/, 'temporal_step'],
  [/^temporal\.temporal_tolerance/, 'temporal_tolerance'],
  [/^temporal/, 'num_steps'],
];

function instageoField(field: string): string {
  for (const [pattern, name] of FIELD_NAMES) if (pattern.test(field)) return field.replace(pattern, name);
  return field;
}

/**
 * A 4xx of the v2 path that names a field becomes this API's 400 naming the InstaGeo field (the seed's
 * convention: every field error is a 400); other errors pass unchanged.
 */
export function asInstageoError(error: unknown): unknown {
  if (!(error instanceof ApiError)) return error;
  const body = error.getResponse() as ApiErrorBody;
  if (!body.field || body.statusCode >= 500) return error;
  const field = instageoField(body.field);
  const message = body.message.startsWith(`${body.field}:`)
    ? `${field}:${body.message.slice(body.field.length + 1)}`
    : `${field}: ${body.message}`;
  return ApiError.badRequest(message, field);
}

/** The InstaGeo task API (seed 003): one task = one v2 inference whose tasks are the bboxes on the date. */
@Injectable()
export class InstageoService {
  constructor(
    private readonly creation: InferenceCreationService,
    private readonly inferences: InferencesService,
    private readonly instageoTasks: InstageoTasksRepository,
    private readonly models: ModelsRepository,
    private readonly tasks: TasksRepository,
  ) {}

  /** POST /api/run-model: resolves model_type, starts the inference, records it as an InstaGeo task. */
  async runModel(request: RunModelRequest, user: string): Promise<InstageoTaskView> {
    const model = await this.models.findLatestReadyByModelType(request.model_type, { user, admin: false });
    if (!model)
      throw ApiError.badRequest(
        `model_type: no READY model of type "${request.model_type}" is registered for you (or public)`,
        'model_type',
      );
    const temporal = {
      ...(request.num_steps !== undefined ? { num_steps: request.num_steps } : {}),
      ...(request.temporal_step !== undefined ? { temporal_step: request.temporal_step } : {}),
      ...(request.temporal_tolerance !== undefined ? { temporal_tolerance: request.temporal_tolerance } : {}),
    };
    const v2: CreateInferenceRequest = {
      model_id: model.id,
      description: `InstaGeo task (model_type ${request.model_type})`,
      spatial_domain: { bbox: request.bboxes },
      temporal_domain: [request.date],
      ...(request.cloud_coverage !== undefined ? { maxcc: request.cloud_coverage } : {}),
      data_source: INSTAGEO_DATA_SOURCES[request.data_source ?? 'S2'],
      ...(request.chip_size !== undefined ? { chip_size: request.chip_size } : {}),
      ...(Object.keys(temporal).length > 0 ? { temporal } : {}),
    };
    try {
      const created = await this.creation.create(parseOrThrow(createInferenceSchema, v2), user);
      await this.instageoTasks.create({
        inferenceId: created.id,
        createdBy: user,
        modelType: request.model_type,
        request: request as unknown as Record<string, unknown>,
      });
      return this.get(created.id, user);
    } catch (error) {
      throw asInstageoError(error);
    }
  }

  /** GET /api/task/{task_id}: the live state while it runs (through the v2 tasks view), else the DB projection. */
  async get(taskId: string, user: string): Promise<InstageoTaskView> {
    const found = await this.instageoTasks.findOwned(taskId, user);
    if (!found) throw ApiError.notFound(`task ${taskId} not found`);
    const { status, tasks } = await this.inferences.tasksOf(taskId, user);
    return instageoTaskView(found.task, found.inference, status as InferenceStatus, tasks.map(bboxTaskState));
  }

  /** GET /api/tasks: the user's InstaGeo tasks, newest first, from the DB projection. */
  async list(query: ListTasksQuery, user: string): Promise<{ tasks: InstageoTaskView[]; total_records: number }> {
    const [rows, total] = await this.instageoTasks.list(user, query.limit, query.offset);
    const tasks = await Promise.all(
      rows.map(async ({ task, inference }) => {
        const taskRows = await this.tasks.listFor(inference.id);
        const states = taskRows.map((row) =>
          bboxTaskState({
            task_id: row.taskId,
            task_index: row.taskIndex,
            status: row.status,
            pipeline_steps: row.pipelineSteps,
            output_key: row.outputKey,
            message: row.statusMessage,
          }),
        );
        return instageoTaskView(task, inference, inference.status, states);
      }),
    );
    return { tasks, total_records: total };
  }
}

function bboxTaskState(task: {
  task_id: string;
  task_index: number;
  status: string;
  pipeline_steps: BboxTaskState['pipeline_steps'];
  output_key?: string | null;
  message?: string | null;
}): BboxTaskState {
  return {
    task_id: task.task_id,
    task_index: task.task_index,
    status: task.status,
    pipeline_steps: task.pipeline_steps,
    output_key: task.output_key ?? null,
    message: task.message ?? null,
  };
}
