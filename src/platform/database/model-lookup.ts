import type { DataSource } from 'typeorm';
import { ModelEntity } from './entities';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A registered model by its id or display name, e.g. the cloud model of `cloud_masking` for inputs without a
 * classification band, named by CLOUD_MASK_MODEL_ID.
 */
export async function findModelByIdOrName(dataSource: DataSource, idOrName: string): Promise<ModelEntity | null> {
  const models = dataSource.getRepository(ModelEntity);
  return UUID.test(idOrName) ? models.findOneBy({ id: idOrName }) : models.findOneBy({ displayName: idOrName });
}
