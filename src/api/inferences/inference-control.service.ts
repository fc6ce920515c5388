import { Inject, Injectable } from '@nestjs/common';
import type { TaskPlan, TaskState } from '../../../workflows/contract/types';
import type { AppConfig } from '../../platform/config/config';
import type { InferenceEntity } from '../../platform/database/entities';
import { InferencesRepository, TasksRepository } from '../../platform/database/repositories';
import type { ObjectStore } from '../../platform/storage/object-store';
import { storageKeys } from '../../platform/storage/keys';
import { PipelineClient, PipelineStartError } from '../../pipeline/client';
import { APP_CONFIG } from '../config.module';
import { OBJECT_STORE } from '../storage.module';
import { ApiError } from '../http/api-error';
import { GenericProcessorsService } from '../generic-processors/generic-processors.service';
import { ownedInference } from './owned-inference';
import { workflowInput } from './workflow-input';
import { WorkflowStartOutbox } from './workflow-start-outbox';

/** How long a delete lets the cancellation of a running inference land before terminating its workflow. */
export const DELETE_CANCEL_GRACE_MS = 15_000;

const STOPPING_MESSAGE = 'cancellation requested; the inference becomes STOPPED when its running steps have stopped';
const RETRY_MESSAGE = 'failed and stopped tasks rerun from the step that did not finish';

/** Changing a running or ended inference: stop, retry, delete. */
@Injectable()
export class InferenceControlService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    private readonly inferences: InferencesRepository,
    private readonly tasks: TasksRepository,
    private readonly pipeline: PipelineClient,
    private readonly processors: GenericProcessorsService,
    private readonly outbox: WorkflowStartOutbox,
  ) {}

  /**
   * Stops a running inference: cancels its workflow, which cancels running activities (they notice through
   * their heartbeats), marks unfinished tasks and steps STOPPED and ends the inference STOPPED. 409 when it has
   * already ended.
   */
  async stop(id: string, user: string) {
    const inference = await ownedInference(this.inferences, id, user);
    if (!(await this.cancelIfRunning(inference))) {
      throw ApiError.conflict(
        `inference ${id} has already ended (${inference.status}); only PENDING or RUNNING inferences can be stopped`,
      );
    }
    return { id, status: 'STOPPING', message: STOPPING_MESSAGE };
  }

  /**
   * Reruns the FAILED and STOPPED tasks of an ended inference as a new run of its workflow (same id), each
   * from its first unfinished step, reusing the outputs of the steps that finished. FINISHED tasks stay.
   */
  async retry(id: string, user: string) {
    const inference = await ownedInference(this.inferences, id, user);
    if (inference.status !== 'FAILED' && inference.status !== 'STOPPED') {
      throw ApiError.conflict(
        `inference ${inference.id} is ${inference.status}; only FAILED or STOPPED inferences can be retried`,
      );
    }
    const rows = await this.tasks.listFor(inference.id);
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
    const processor = inference.genericProcessorId
      ? await this.processors.planForRetry(inference.genericProcessorId)
      : undefined;
    const input = workflowInput(this.config, {
      inferenceId: inference.id,
      modelId: inference.modelId,
      tasks: plans,
      steps,
      webhookUrl: inference.webhookUrl ?? this.config.DEFAULT_WEBHOOK_URL,
      processor,
      resume,
    });
    await this.inferences.update(inference.id, {
      status: 'PENDING',
      statusMessage: null,
      finishedAt: null,
      retries: inference.retries + 1,
    });
    try {
      await this.pipeline.retry({ workflowId: inference.workflowId, input, createdBy: inference.createdBy }, () =>
        this.inferences.update(inference.id, {
          status: inference.status,
          statusMessage: inference.statusMessage,
          finishedAt: inference.finishedAt,
        }),
      );
    } catch (error) {
      if (!(error instanceof PipelineStartError)) throw error;
      throw new ApiError(503, `the workflow service is unavailable, retry not started: ${error.message}`);
    }
    return { id, status: 'PENDING', tasks_to_rerun: rerun, message: RETRY_MESSAGE };
  }

  /** Deletes an inference, its tasks and its outputs; a running one is stopped first. */
  async delete(id: string, user: string): Promise<void> {
    const inference = await ownedInference(this.inferences, id, user);
    if (await this.cancelIfRunning(inference)) {
      // Let the cancellation land so no activity writes outputs after they are deleted; terminate if slow.
      const closed = await this.pipeline.waitForClose(inference.workflowId, DELETE_CANCEL_GRACE_MS);
      if (!closed) await this.pipeline.terminate(inference.workflowId, 'inference deleted').catch(() => undefined);
    }
    await this.store.deletePrefix(storageKeys.inferencePrefix(inference.id));
    await this.inferences.delete(inference.id);
  }

  /** Cancels the workflow of a PENDING or RUNNING inference; false when the inference had already ended. */
  private async cancelIfRunning(inference: InferenceEntity): Promise<boolean> {
    if (inference.status !== 'PENDING' && inference.status !== 'RUNNING') return false;
    if (await this.pipeline.cancel(inference.workflowId)) return true;
    // No workflow yet: its start is still owed by the outbox. Started now, so the cancellation ends it as usual.
    const owed = await this.outbox.startOwed(inference.id);
    if (owed === 'nothing owed') return false;
    if (owed === 'failed')
      throw new ApiError(503, `the workflow service is unavailable, inference ${inference.id} not stopped`, undefined, {
        dependency: 'temporal',
      });
    return this.pipeline.cancel(inference.workflowId);
  }
}
