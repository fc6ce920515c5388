import type { DataSource, SelectQueryBuilder } from 'typeorm';
import { ModelEntity, type ModelVisibility } from '../entities';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type NewModel = Omit<ModelEntity, 'createdAt' | 'updatedAt' | 'deletedAt' | 'deletedBy'>;
export type ModelChanges = Partial<
  Pick<ModelEntity, 'displayName' | 'description' | 'visibility' | 'geoserverPush' | 'version' | 'modelType'>
>;

/** Who is looking: a user sees their own and public models, an admin every model. */
export interface ModelViewer {
  user: string;
  admin: boolean;
}

/** The unique index a second model of the same owner, name and version runs into. */
export const MODEL_NAME_UNIQUE_INDEX = 'models_owner_display_name_version_key';

/**
 * The `models` table. Lookups for users skip soft-deleted models and those they may not see; `findById` does
 * not (running inferences, their tiles and exports keep using a model deleted after they started).
 */
export class ModelsRepository {
  constructor(private readonly dataSource: DataSource) {}

  private get rows() {
    return this.dataSource.getRepository(ModelEntity);
  }

  /** Models not deleted that `viewer` may see. */
  private visible(viewer: ModelViewer): SelectQueryBuilder<ModelEntity> {
    const query = this.rows.createQueryBuilder('model').where('model.deleted_at IS NULL');
    if (!viewer.admin) query.andWhere(`(model.owner = :user OR model.visibility = 'public')`, { user: viewer.user });
    return query;
  }

  /** Inserts a model; a second model of the owner with that name fails with MODEL_NAME_UNIQUE_INDEX. */
  create(model: NewModel): Promise<ModelEntity> {
    return this.rows.save(this.rows.create(model));
  }

  /** Any model, deleted or not, whoever owns it: for the pipeline, never for answering a user. */
  findById(id: string): Promise<ModelEntity | null> {
    return this.rows.findOneBy({ id });
  }

  /** A model `viewer` may see (not deleted). */
  findVisible(id: string, viewer: ModelViewer): Promise<ModelEntity | null> {
    return this.visible(viewer).andWhere('model.id = :id', { id }).getOne();
  }

  /** The models named `displayName` that `viewer` may see: their own first, then public ones; newest version first. */
  findVisibleByDisplayName(displayName: string, viewer: ModelViewer): Promise<ModelEntity[]> {
    return this.visible(viewer)
      .andWhere('model.display_name = :displayName', { displayName })
      .orderBy(`CASE WHEN model.owner = :user THEN 0 ELSE 1 END`)
      .addOrderBy('model.version', 'DESC')
      .addOrderBy('model.created_at', 'ASC')
      .setParameter('user', viewer.user)
      .getMany();
  }

  /**
   * The model of InstaGeo `model_type` a user runs: the latest READY version among those `viewer` may see, their
   * own first, then public ones (newest first); null when there is none.
   */
  findLatestReadyByModelType(modelType: string, viewer: ModelViewer): Promise<ModelEntity | null> {
    return this.visible(viewer)
      .andWhere('model.model_type = :modelType', { modelType })
      .andWhere(`model.status = 'READY'`)
      .orderBy(`CASE WHEN model.owner = :user THEN 0 ELSE 1 END`)
      .addOrderBy('model.version', 'DESC')
      .addOrderBy('model.created_at', 'DESC')
      .setParameter('user', viewer.user)
      .getOne();
  }

  /**
   * A model for the operator's settings (CLOUD_MASK_MODEL_ID): by id, or by display name preferring public models,
   * then the oldest. Deleted models do not count.
   */
  findByIdOrName(idOrName: string): Promise<ModelEntity | null> {
    const query = this.rows.createQueryBuilder('model').where('model.deleted_at IS NULL');
    if (UUID.test(idOrName)) return query.andWhere('model.id = :id', { id: idOrName }).getOne();
    return query
      .andWhere('model.display_name = :name', { name: idOrName })
      .orderBy(`CASE WHEN model.visibility = 'public' THEN 0 ELSE 1 END`)
      .addOrderBy('model.created_at', 'ASC')
      .getOne();
  }

  /** Whether `owner` already has a model (not deleted) of this name, other than `exceptId`. */
  async ownerHasDisplayName(owner: string, displayName: string, exceptId?: string): Promise<boolean> {
    const query = this.rows
      .createQueryBuilder('model')
      .where('model.deleted_at IS NULL AND model.owner = :owner AND model.display_name = :displayName', {
        owner,
        displayName,
      });
    if (exceptId) query.andWhere('model.id <> :exceptId', { exceptId });
    return (await query.getCount()) > 0;
  }

  /**
   * The version a new model of `owner` named `displayName` gets: one more than any version of that name the owner
   * ever had, deleted ones included, so a version number never names two different files.
   */
  async nextVersion(owner: string, displayName: string): Promise<number> {
    const row = await this.rows
      .createQueryBuilder('model')
      .select('MAX(model.version)', 'latest')
      .where('model.owner = :owner AND model.display_name = :displayName', { owner, displayName })
      .getRawOne<{ latest: number | string | null }>();
    return Number(row?.latest ?? 0) + 1;
  }

  /**
   * A page of the models `viewer` may see, newest first, and how many there are. `latestOnly`: only the highest
   * version (not deleted) of each owner's display name.
   */
  list(
    viewer: ModelViewer,
    filter: { visibility?: ModelVisibility; owner?: string; displayName?: string; latestOnly?: boolean },
    limit: number,
    offset: number,
  ): Promise<[ModelEntity[], number]> {
    const query = this.visible(viewer);
    if (filter.visibility) query.andWhere('model.visibility = :visibility', { visibility: filter.visibility });
    if (filter.owner) query.andWhere('model.owner = :owner', { owner: filter.owner });
    if (filter.displayName) query.andWhere('model.display_name = :displayName', { displayName: filter.displayName });
    if (filter.latestOnly) {
      query.andWhere(
        `NOT EXISTS (SELECT 1 FROM models newer WHERE newer.owner = model.owner AND newer.display_name = model.display_name
           AND newer.version > model.version AND newer.deleted_at IS NULL)`,
      );
    }
    return query
      .orderBy('model.created_at', 'DESC')
      .addOrderBy('model.version', 'DESC')
      .addOrderBy('model.id')
      .take(limit)
      .skip(offset)
      .getManyAndCount();
  }

  async update(id: string, changes: ModelChanges): Promise<ModelEntity> {
    await this.rows.update({ id }, changes);
    return (await this.findById(id))!;
  }

  /** Soft delete: gone for users and new inferences; the row and file stay for inferences that use it. */
  async softDelete(id: string, deletedBy: string): Promise<void> {
    await this.rows
      .createQueryBuilder()
      .update()
      .set({ deletedAt: () => 'now()', deletedBy })
      .where('id = :id AND deleted_at IS NULL', { id })
      .execute();
  }
}
