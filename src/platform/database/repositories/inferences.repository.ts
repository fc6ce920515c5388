import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import type { DataSource } from 'typeorm';
import type { InferenceStatus } from '../../../../workflows/contract/status';
import { InferenceEntity, TaskEntity } from '../entities';
import { insertWorkflowStart, type NewWorkflowStart } from './workflow-starts.repository';

/** An entity as insert() takes it (its jsonb columns, typed as plain objects, do not fit TypeORM's deep partial). */
type Insertable<T> = QueryDeepPartialEntity<T>;

/** The columns a new inference is created with; the database fills in the rest (timestamps, retries, COCO key). */
export type NewInference = Omit<
  InferenceEntity,
  'createdAt' | 'updatedAt' | 'retries' | 'cocoKey' | 'tokenGeneration' | 'webhookRevokedAt'
>;
export type NewTask = Omit<TaskEntity, 'createdAt' | 'updatedAt' | 'currentKey'>;

/** What the API changes on an inference row (the workflow's projection writes the rest). */
export type InferenceChanges = Partial<Pick<InferenceEntity, 'status' | 'statusMessage' | 'finishedAt' | 'retries'>>;

export interface InferenceFilter {
  createdBy: string;
  status?: InferenceStatus;
  modelId?: string;
  modelDisplayName?: string;
}

/** The `inferences` table, with the `inference_tasks` rows an inference is created with. */
export class InferencesRepository {
  constructor(private readonly dataSource: DataSource) {}

  private get rows() {
    return this.dataSource.getRepository(InferenceEntity);
  }

  /**
   * Inserts the inference and its tasks in one transaction: no inference exists without its tasks (nor, given
   * `workflowStart`, without the outbox row its workflow is started from).
   */
  async createWithTasks(
    inference: NewInference,
    tasks: NewTask[],
    workflowStart?: NewWorkflowStart,
  ): Promise<InferenceEntity> {
    // Plain INSERTs (RETURNING fills the generated columns in): `save` would first SELECT each row to find
    // out whether to insert or update, two more round trips on the hot path of POST /api/v2/inference.
    return this.dataSource.transaction(async (manager) => {
      const saved = manager.create(InferenceEntity, inference);
      await manager.insert(InferenceEntity, saved as Insertable<InferenceEntity>);
      if (tasks.length > 0)
        await manager.insert(
          TaskEntity,
          tasks.map((task) => manager.create(TaskEntity, task)) as Array<Insertable<TaskEntity>>,
        );
      // The outbox row commits with the inference: its workflow is started for sure, now or after an outage.
      if (workflowStart) await insertWorkflowStart(manager, inference.id, workflowStart);
      return saved;
    });
  }

  findById(id: string): Promise<InferenceEntity | null> {
    return this.rows.findOneBy({ id });
  }

  /** The inference if `createdBy` owns it; null otherwise, so other users cannot tell it exists. */
  findOwned(id: string, createdBy: string): Promise<InferenceEntity | null> {
    return this.rows.findOneBy({ id, createdBy });
  }

  /** A page of the matching inferences, newest first, and how many match in all. */
  list(filter: InferenceFilter, limit: number, offset: number): Promise<[InferenceEntity[], number]> {
    return this.rows.findAndCount({
      where: {
        createdBy: filter.createdBy,
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.modelId ? { modelId: filter.modelId } : {}),
        ...(filter.modelDisplayName ? { modelDisplayName: filter.modelDisplayName } : {}),
      },
      order: { createdAt: 'DESC' },
      take: limit,
      skip: offset,
    });
  }

  async update(id: string, changes: InferenceChanges): Promise<void> {
    await this.rows.update({ id }, changes);
  }

  /** The token generation of an inference (null: no such inference). */
  async tokenGeneration(id: string): Promise<number | null> {
    const row = await this.rows.findOne({ where: { id }, select: { id: true, tokenGeneration: true } });
    return row ? row.tokenGeneration : null;
  }

  /** The inference a task belongs to (tasks never move: callers may cache this). */
  async inferenceIdOfTask(taskId: string): Promise<string | null> {
    const row = await this.dataSource
      .getRepository(TaskEntity)
      .findOne({ where: { taskId }, select: { taskId: true, inferenceId: true } });
    return row?.inferenceId ?? null;
  }

  /** Raises the token generation (revoking every tile and events token issued so far); the new generation. */
  async raiseTokenGeneration(id: string): Promise<number> {
    const result = await this.rows
      .createQueryBuilder()
      .update()
      .set({ tokenGeneration: () => 'token_generation + 1' })
      .where('id = :id', { id })
      .returning('token_generation')
      .execute();
    const rows = result.raw as Array<{ token_generation: number }>;
    return rows[0]?.token_generation ?? 0;
  }

  /** Stops webhook deliveries of the inference and forgets its webhook secret. */
  async revokeWebhook(id: string): Promise<void> {
    await this.rows.update({ id }, { webhookRevokedAt: () => 'now()', webhookSecret: null });
  }

  /** Deletes the inference; its tasks, step logs and webhook deliveries go with it (ON DELETE CASCADE). */
  async delete(id: string): Promise<void> {
    await this.rows.delete({ id });
  }
}
