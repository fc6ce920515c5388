import type { ModelInputDataSpec } from '../../../workflows/contract/model-spec';

/**
 * The cloud model's spec with each band read from where the inference model's input has the band of the
 * same name (the input file's layout is known only through the inference model's spec).
 */
export function cloudSpecForInput(
  cloudSpec: ModelInputDataSpec,
  inputSpec: ModelInputDataSpec,
): { spec: ModelInputDataSpec; missing: string[] } {
  const positions = new Map(inputSpec.bands.map((band, index) => [band.name, band.source_index ?? index + 1]));
  const missing = cloudSpec.bands.filter((band) => !positions.has(band.name)).map((band) => band.name);
  return {
    spec: {
      ...cloudSpec,
      bands: cloudSpec.bands.map((band) => ({ name: band.name, source_index: positions.get(band.name) ?? 1 })),
    },
    missing,
  };
}

/** Output values of the cloud model that count as cloud: classes named cloud, cloud shadow, cirrus. */
export function cloudClassValues(spec: ModelInputDataSpec): Set<number> {
  return new Set(spec.classes.filter((entry) => /cloud|shadow|cirrus/i.test(entry.name)).map((entry) => entry.value));
}
