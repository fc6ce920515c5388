import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import type { DataSource } from 'typeorm';
import type { InferenceStatus } from '../../../../workflows/contract/status';
import { InferenceEntity, TaskEntity } from '../entities';

/** An entity as insert() takes it (its jsonb columns, typed as plain objects, do not fit TypeORM's deep partial). */
type Insertable<T> = QueryDeepPartialEntity<T>;

/** The columns a new inference is created with; the database fills in the rest (timestamps, retries, COCO key). */
export type NewInference = Omit<InferenceEntity, 'createdAt' | 'updatedAt' | 'retries' | 'cocoKey'>;
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

  /** Inserts the inference and its tasks in one transaction: no inference exists without its tasks. */
  async createWithTasks(inference: NewInference, tasks: NewTask[]): Promise<InferenceEntity> {
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

  /** Deletes the inference; its tasks, step logs and webhook deliveries go with it (ON DELETE CASCADE). */
  async delete(id: string): Promise<void> {
    await this.rows.delete({ id });
  }
}
