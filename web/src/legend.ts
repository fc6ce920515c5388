import type { ModelInputDataSpec } from '../../workflows/contract/model-spec';

/**
 * Colours of classes without one: the tile renderer's palette (DEFAULT_CLASS_COLORS in
 * src/geo/tiles/cog-tiles.ts, checked equal by test/unit/console-legend.spec.ts).
 */
export const DEFAULT_CLASS_COLORS = [
  '#e41a1c',
  '#377eb8',
  '#4daf4a',
  '#984ea3',
  '#ff7f00',
  '#ffff33',
  '#a65628',
  '#f781bf',
  '#999999',
];

export interface LegendEntry {
  value: number;
  name: string;
  /** '#rrggbb', as the tiles draw it. */
  color: string;
  rgb: [number, number, number];
  background: boolean;
}

function hexColor(color: string | undefined, fallback: string): string {
  if (color && /^#[0-9a-fA-F]{6}$/.test(color)) return color.toLowerCase();
  if (color && /^#[0-9a-fA-F]{3}$/.test(color))
    return `#${[...color.slice(1)].map((char) => char + char).join('')}`.toLowerCase();
  return fallback;
}

/** The classes as the map tiles colour them: the same rules as classColourMap (nodata and repeats left out). */
export function legendOf(spec: Pick<ModelInputDataSpec, 'classes' | 'output_nodata'> | undefined): LegendEntry[] {
  const nodata = spec?.output_nodata ?? 255;
  const seen = new Set<number>();
  const entries: LegendEntry[] = [];
  (spec?.classes ?? []).slice(0, 255).forEach((entry, index) => {
    if (entry.value === nodata || seen.has(entry.value)) return;
    seen.add(entry.value);
    const color = hexColor(entry.color, DEFAULT_CLASS_COLORS[index % DEFAULT_CLASS_COLORS.length]!);
    const rgb = [1, 3, 5].map((at) => parseInt(color.slice(at, at + 2), 16)) as [number, number, number];
    entries.push({ value: entry.value, name: entry.name, color, rgb, background: entry.background === true });
  });
  return entries;
}

/** The class a tile pixel's colour stands for (nearest legend colour, a small tolerance for resampling). */
export function classOfColour(
  legend: readonly LegendEntry[],
  rgba: readonly [number, number, number, number],
): LegendEntry | undefined {
  let best: LegendEntry | undefined;
  let bestDistance = Infinity;
  for (const entry of legend) {
    const distance = Math.max(...entry.rgb.map((channel, i) => Math.abs(channel - rgba[i]!)));
    if (distance < bestDistance) [best, bestDistance] = [entry, distance];
  }
  return bestDistance <= 6 ? best : undefined;
}
