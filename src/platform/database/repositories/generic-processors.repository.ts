import type { DataSource } from 'typeorm';
import { GenericProcessorEntity } from '../entities';
import { type ProcessorWorkerState, processorWorkerStates } from '../processor-states';

export type NewGenericProcessor = Omit<GenericProcessorEntity, 'createdAt' | 'updatedAt' | 'deletedAt' | 'style'> &
  Partial<Pick<GenericProcessorEntity, 'style'>>;

/** The `generic_processors` table. Deletes are soft: a deleted processor is found only when asked for. */
export class GenericProcessorsRepository {
  constructor(private readonly dataSource: DataSource) {}

  private get rows() {
    return this.dataSource.getRepository(GenericProcessorEntity);
  }

  create(processor: NewGenericProcessor): Promise<GenericProcessorEntity> {
    return this.rows.save(this.rows.create(processor));
  }

  /** The user's processor, unless deleted. */
  findOwned(id: string, createdBy: string): Promise<GenericProcessorEntity | null> {
    return this.rows.findOneBy({ id, createdBy });
  }

  /** The processor even if deleted (its `deletedAt` says so); of that user only when `createdBy` is given. */
  findIncludingDeleted(id: string, createdBy?: string): Promise<GenericProcessorEntity | null> {
    return this.rows.findOne({ where: { id, ...(createdBy ? { createdBy } : {}) }, withDeleted: true });
  }

  /** A page of the user's processors (not deleted), newest first, and how many there are. */
  list(createdBy: string, limit: number, offset: number): Promise<[GenericProcessorEntity[], number]> {
    return this.rows.findAndCount({ where: { createdBy }, order: { createdAt: 'DESC' }, take: limit, skip: offset });
  }

  async softDelete(id: string): Promise<void> {
    await this.rows.softDelete({ id });
  }

  /** What the workers report about the processor (lifecycle processors: warm processes, runs, last error). */
  workerStates(id: string): Promise<ProcessorWorkerState[]> {
    return processorWorkerStates(this.dataSource, id);
  }
}
