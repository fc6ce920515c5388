/**
 * Colours of continuous outputs and legends (issue 14 item 2). A regression output is drawn with its colormap over
 * its display range (`rescale`, else the values' min / max of the step result): palette entry 0 is transparent
 * (nodata, NaN, outside the raster), entries 1-255 sample the colormap from the low to the high end, values outside
 * the range are clamped. Legends: class swatches for segmentation, a colorbar for regression, as JSON and PNG.
 */
import { DEFAULT_CLASS_COLORS, type ColourMap } from './cog-tiles';
import { colormapHex, colormapTable, DEFAULT_COLORMAP } from './colormaps';
import { encodePalettePng, type Rgba } from './png';
import { maskNodata, taskTypeOf, type ModelInputDataSpec } from '../../../workflows/contract/model-spec';

const RAMP_ENTRIES = 255;

/** The display range of a regression output: the spec's rescale, else the observed range, else [0, 1]. */
export function displayRange(
  spec: Pick<ModelInputDataSpec, 'rescale'>,
  observed?: { min: number | null; max: number | null },
): [number, number] {
  if (spec.rescale) return spec.rescale;
  const { min, max } = observed ?? { min: null, max: null };
  if (min !== null && max !== null && Number.isFinite(min) && Number.isFinite(max))
    return min < max ? [min, max] : [min, min + 1];
  return [0, 1];
}

export function rampColourMap(colormap: string | undefined, range: [number, number], nodata: number | null): ColourMap {
  const table = colormapTable(colormap);
  const palette: Rgba[] = [[0, 0, 0, 0]];
  for (let k = 0; k < RAMP_ENTRIES; k++) {
    const i = Math.round((k / (RAMP_ENTRIES - 1)) * 255) * 3;
    palette.push([table[i]!, table[i + 1]!, table[i + 2]!, 255]);
  }
  const [low, high] = range;
  return {
    palette,
    indexOf: (value) => {
      if (Number.isNaN(value) || value === nodata) return 0;
      const t = Math.min(1, Math.max(0, (value - low) / (high - low)));
      return 1 + Math.round(t * (RAMP_ENTRIES - 1));
    },
  };
}

export type Legend =
  | {
      type: 'classes';
      classes: Array<{ value: number; name: string; color: string; background: boolean }>;
      nodata: number;
    }
  | {
      type: 'colorbar';
      colormap: string;
      min: number;
      max: number;
      units: string | null;
      /** Five evenly spaced stops, low to high. */
      stops: Array<{ value: number; color: string }>;
      nodata: number | 'NaN';
    };

export function legendOf(spec: ModelInputDataSpec, observed?: { min: number | null; max: number | null }): Legend {
  if (taskTypeOf(spec) === 'regression') {
    const [min, max] = displayRange(spec, observed);
    const colormap = spec.colormap ?? DEFAULT_COLORMAP;
    return {
      type: 'colorbar',
      colormap,
      min,
      max,
      units: spec.units ?? null,
      stops: [0, 0.25, 0.5, 0.75, 1].map((t) => ({ value: min + t * (max - min), color: colormapHex(colormap, t) })),
      nodata: typeof spec.output_nodata === 'number' ? spec.output_nodata : 'NaN',
    };
  }
  return {
    type: 'classes',
    classes: spec.classes.map((entry, i) => ({
      value: entry.value,
      name: entry.name,
      color: entry.color ?? DEFAULT_CLASS_COLORS[i % DEFAULT_CLASS_COLORS.length]!,
      background: entry.background ?? false,
    })),
    nodata: maskNodata(spec),
  };
}

/**
 * The legend as a PNG (no text: the JSON carries names and values): a colorbar 256 x 20 pixels, low values left;
 * or one 20 x 20 swatch per class, left to right in spec order with a 4-pixel gap.
 */
export function legendPng(legend: Legend): Buffer {
  if (legend.type === 'colorbar') {
    const table = colormapTable(legend.colormap);
    const palette: Rgba[] = [];
    for (let i = 0; i < 256; i++) palette.push([table[i * 3]!, table[i * 3 + 1]!, table[i * 3 + 2]!, 255]);
    const [width, height] = [256, 20];
    const indices = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) indices[y * width + x] = x;
    return encodePalettePng(width, height, indices, palette);
  }
  const swatch = 20;
  const gap = 4;
  const count = Math.max(1, legend.classes.length);
  const width = count * swatch + (count - 1) * gap;
  const palette: Rgba[] = [[0, 0, 0, 0], ...legend.classes.slice(0, 255).map((entry) => hexRgba(entry.color))];
  const indices = new Uint8Array(width * swatch);
  for (let y = 0; y < swatch; y++)
    for (let x = 0; x < width; x++) {
      const k = Math.floor(x / (swatch + gap));
      if (x - k * (swatch + gap) < swatch && k < legend.classes.length) indices[y * width + x] = k + 1;
    }
  return encodePalettePng(width, swatch, indices, palette);
}

function hexRgba(color: string): Rgba {
  const hex = /^#[0-9a-fA-F]{6}$/.test(color) ? color.slice(1) : '888888';
  return [parseInt(hex.slice(0, 2), 16), parseInt(hex.slice(2, 4), 16), parseInt(hex.slice(4, 6), 16), 255];
}
