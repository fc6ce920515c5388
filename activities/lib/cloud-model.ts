import type { DataSource } from 'typeorm';
import { ModelEntity } from '../../src/database/entities';
import type { ModelInputDataSpec } from '../../src/models/model-spec';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The cloud model of `cloud_masking` for inputs without a classification band (URLs, uploads): a registered
 * model named by CLOUD_MASK_MODEL_ID (its id or display name), e.g. the demo ukis-csmask model.
 */
export async function findCloudModel(dataSource: DataSource, idOrName: string): Promise<ModelEntity | null> {
  const models = dataSource.getRepository(ModelEntity);
  return UUID.test(idOrName) ? models.findOneBy({ id: idOrName }) : models.findOneBy({ displayName: idOrName });
}

/**
 * The cloud model's spec with each band read from where the inference model's input has the band of the
 * same name (the input file's layout is known only through the inference model's spec).
 */
export function cloudSpecForInput(cloudSpec: ModelInputDataSpec, inputSpec: ModelInputDataSpec): { spec: ModelInputDataSpec; missing: string[] } {
  const positions = new Map(inputSpec.bands.map((band, index) => [band.name, band.source_index ?? index + 1]));
  const missing = cloudSpec.bands.filter((band) => !positions.has(band.name)).map((band) => band.name);
  return { spec: { ...cloudSpec, bands: cloudSpec.bands.map((band) => ({ name: band.name, source_index: positions.get(band.name) ?? 1 })) }, missing };
}

/** Output values of the cloud model that count as cloud: classes named cloud, cloud shadow, cirrus. */
export function cloudClassValues(spec: ModelInputDataSpec): Set<number> {
  return new Set(spec.classes.filter((entry) => /cloud|shadow|cirrus/i.test(entry.name)).map((entry) => entry.value));
}
