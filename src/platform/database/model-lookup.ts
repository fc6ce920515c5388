import type { DataSource } from 'typeorm';
import type { ModelEntity } from './entities';
import { ModelsRepository } from './repositories/models.repository';

/** ModelsRepository.findByIdOrName for callers that hold only a DataSource (the activities). */
export function findModelByIdOrName(dataSource: DataSource, idOrName: string): Promise<ModelEntity | null> {
  return new ModelsRepository(dataSource).findByIdOrName(idOrName);
}
