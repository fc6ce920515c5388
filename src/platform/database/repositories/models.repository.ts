import type { DataSource } from 'typeorm';
import { ModelEntity } from '../entities';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type NewModel = Omit<ModelEntity, 'createdAt' | 'updatedAt'>;

/** The `models` table. */
export class ModelsRepository {
  constructor(private readonly dataSource: DataSource) {}

  private get rows() {
    return this.dataSource.getRepository(ModelEntity);
  }

  /** Inserts a model; a duplicate display name fails with the `models_display_name_key` violation. */
  create(model: NewModel): Promise<ModelEntity> {
    return this.rows.save(this.rows.create(model));
  }

  findById(id: string): Promise<ModelEntity | null> {
    return this.rows.findOneBy({ id });
  }

  findByDisplayName(displayName: string): Promise<ModelEntity | null> {
    return this.rows.findOneBy({ displayName });
  }

  /**
   * A registered model by its id or display name, e.g. the cloud model of `cloud_masking` for inputs without a
   * classification band, named by CLOUD_MASK_MODEL_ID.
   */
  findByIdOrName(idOrName: string): Promise<ModelEntity | null> {
    return UUID.test(idOrName) ? this.findById(idOrName) : this.findByDisplayName(idOrName);
  }

  existsWithDisplayName(displayName: string): Promise<boolean> {
    return this.rows.existsBy({ displayName });
  }

  /** A page of models, newest first, and how many there are. */
  list(limit: number, offset: number): Promise<[ModelEntity[], number]> {
    return this.rows.findAndCount({ order: { createdAt: 'DESC' }, take: limit, skip: offset });
  }
}
