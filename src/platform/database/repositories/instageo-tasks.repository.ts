import type { DataSource } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { InferenceEntity, InstageoTaskEntity } from '../entities';

/** The `instageo_tasks` table: which inferences the InstaGeo task API created, with their requests. */
export class InstageoTasksRepository {
  constructor(private readonly dataSource: DataSource) {}

  private get rows() {
    return this.dataSource.getRepository(InstageoTaskEntity);
  }

  async create(task: Omit<InstageoTaskEntity, 'createdAt'>): Promise<void> {
    await this.rows.insert(this.rows.create(task) as QueryDeepPartialEntity<InstageoTaskEntity>);
  }

  /** The InstaGeo task `inferenceId` of `createdBy` with its inference; null for others' or unknown ids. */
  async findOwned(
    inferenceId: string,
    createdBy: string,
  ): Promise<{ task: InstageoTaskEntity; inference: InferenceEntity } | null> {
    const task = await this.rows.findOneBy({ inferenceId, createdBy });
    if (!task) return null;
    const inference = await this.dataSource.getRepository(InferenceEntity).findOneBy({ id: inferenceId, createdBy });
    return inference ? { task, inference } : null;
  }

  /** A page of `createdBy`'s InstaGeo tasks with their inferences, newest first, and how many there are. */
  async list(
    createdBy: string,
    limit: number,
    offset: number,
  ): Promise<[Array<{ task: InstageoTaskEntity; inference: InferenceEntity }>, number]> {
    const [tasks, total] = await this.rows.findAndCount({
      where: { createdBy },
      order: { createdAt: 'DESC', inferenceId: 'ASC' },
      take: limit,
      skip: offset,
    });
    const inferences =
      tasks.length === 0
        ? []
        : await this.dataSource
            .getRepository(InferenceEntity)
            .createQueryBuilder('inference')
            .where('inference.id IN (:...ids)', { ids: tasks.map((task) => task.inferenceId) })
            .getMany();
    const byId = new Map(inferences.map((inference) => [inference.id, inference]));
    const rows = tasks.flatMap((task) => {
      const inference = byId.get(task.inferenceId);
      return inference ? [{ task, inference }] : [];
    });
    return [rows, total];
  }
}
