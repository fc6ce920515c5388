import { Controller, Get, Header, Inject, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { readStepLog } from '../../platform/database/step-logs';
import { CurrentUser } from '../auth/current-user.decorator';
import { ApiError } from '../http/api-error';
import { STEP_IDS } from '../../../workflows/contract/status';
import { InferenceEntity, TaskEntity } from '../../platform/database/entities';
import type { ObjectStore } from '../../platform/storage/object-store';
import { outputUrlExample } from '../openapi/examples';
import { OBJECT_STORE } from '../storage.module';

/** Signed output URLs stay valid this long (same as the seed's processor file URLs). */
const OUTPUT_URL_TTL_SECONDS = 8 * 60 * 60;
const KNOWN_STEPS = new Set<string>(Object.values(STEP_IDS));

@ApiTags('tasks')
@Controller('api/v2/tasks')
export class TasksController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
  ) {}

  private async ownedTask(taskId: string, user: string): Promise<TaskEntity> {
    if (!/^[0-9a-f-]{36}-task-\d{3,}$/.test(taskId)) throw ApiError.notFound(`task ${taskId} not found`);
    const task = await this.dataSource.getRepository(TaskEntity).findOneBy({ taskId });
    const owner =
      task &&
      (await this.dataSource.getRepository(InferenceEntity).findOneBy({ id: task.inferenceId, createdBy: user }));
    if (!task || !owner) throw ApiError.notFound(`task ${taskId} not found`);
    return task;
  }

  @Get(':taskId/output-url')
  @ApiOperation({ summary: "Signed URL (8 h) of the task's output mask" })
  @ApiOkResponse({ schema: { example: outputUrlExample } })
  async outputUrl(@Param('taskId') taskId: string, @CurrentUser() user: string) {
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

  @Get(':taskId/logs/:stepId')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiOperation({ summary: "The step's log (every attempt) as text" })
  @ApiProduces('text/plain')
  async logs(
    @Param('taskId') taskId: string,
    @Param('stepId') stepId: string,
    @CurrentUser() user: string,
  ): Promise<string> {
    if (!KNOWN_STEPS.has(stepId))
      throw ApiError.notFound(`step ${stepId} is not a pipeline step (${[...KNOWN_STEPS].join(', ')})`);
    const task = await this.ownedTask(taskId, user);
    const log = await readStepLog(this.dataSource, this.store, task.inferenceId, task.taskId, stepId);
    if (log === undefined) throw ApiError.notFound(`step ${stepId} of task ${taskId} has no log yet`);
    return log;
  }
}
