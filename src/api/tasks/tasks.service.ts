import { Inject, Injectable } from '@nestjs/common';
import { STEP_IDS } from '../../../workflows/contract/status';
import type { TaskEntity } from '../../platform/database/entities';
import { InferencesRepository, StepLogsRepository, TasksRepository } from '../../platform/database/repositories';
import { storageKeys } from '../../platform/storage/keys';
import type { ObjectStore } from '../../platform/storage/object-store';
import { OBJECT_STORE } from '../storage.module';
import { ApiError } from '../http/api-error';

/** Signed output URLs stay valid this long (same as the seed's processor file URLs). */
const OUTPUT_URL_TTL_SECONDS = 8 * 60 * 60;
const KNOWN_STEPS = new Set<string>(Object.values(STEP_IDS));

/** One task of the user's inferences: a signed URL of its output, the logs of its steps. */
@Injectable()
export class TasksService {
  constructor(
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly tasks: TasksRepository,
    private readonly inferences: InferencesRepository,
    private readonly stepLogs: StepLogsRepository,
  ) {}

  private async ownedTask(taskId: string, user: string): Promise<TaskEntity> {
    if (!/^[0-9a-f-]{36}-task-\d{3,}$/.test(taskId)) throw ApiError.notFound(`task ${taskId} not found`);
    const task = await this.tasks.findById(taskId);
    const owner = task && (await this.inferences.findOwned(task.inferenceId, user));
    if (!task || !owner) throw ApiError.notFound(`task ${taskId} not found`);
    return task;
  }

  async outputUrl(taskId: string, user: string) {
    const task = await this.ownedTask(taskId, user);
    if (!task.outputKey) throw ApiError.notFound(`task ${taskId} has no output yet (status ${task.status})`);
    const url = await this.store.signedGetUrl(task.outputKey, OUTPUT_URL_TTL_SECONDS);
    return {
      task_id: task.taskId,
      status: task.status,
      output_key: task.outputKey,
      url,
      expires_at: new Date(Date.now() + OUTPUT_URL_TTL_SECONDS * 1000).toISOString(),
    };
  }

  /** The whole log of a step, every attempt in order (the object of versions before step_logs first). */
  async stepLog(taskId: string, stepId: string, user: string): Promise<string> {
    if (!KNOWN_STEPS.has(stepId))
      throw ApiError.notFound(`step ${stepId} is not a pipeline step (${[...KNOWN_STEPS].join(', ')})`);
    const task = await this.ownedTask(taskId, user);
    const legacyKey = storageKeys.legacyStepLog(task.inferenceId, task.taskId, stepId);
    const [legacy, texts] = await Promise.all([this.store.exists(legacyKey), this.stepLogs.texts(task.taskId, stepId)]);
    if (!legacy && texts.length === 0) throw ApiError.notFound(`step ${stepId} of task ${taskId} has no log yet`);
    const before = legacy ? (await this.store.getObject(legacyKey)).toString('utf8') : '';
    return before + texts.join('');
  }
}
