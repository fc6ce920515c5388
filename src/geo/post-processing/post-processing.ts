import type { ClassificationScheme } from '../../../workflows/contract/imagery-sources';

/**
 * `post_processing` of a model output mask: pixels flagged by the scene's classification band (Sentinel-2
 * SCL or HLS Fmask) or by the permanent-water reference become the output nodata.
 */
export type PostProcessingKey = 'cloud_masking' | 'snow_ice_masking' | 'permanent_water_masking';

/** SCL classes: 3 cloud shadow, 8 cloud medium probability, 9 cloud high probability, 10 thin cirrus; 11 snow/ice. */
const SCL_CLASSES: Record<'cloud_masking' | 'snow_ice_masking', ReadonlySet<number>> = {
  cloud_masking: new Set([3, 8, 9, 10]),
  snow_ice_masking: new Set([11]),
};

/** Fmask (HLS v2.0) bits: 1 cloud, 2 adjacent to cloud/shadow, 3 cloud shadow, 4 snow/ice, 5 water. 255 = fill. */
const FMASK_BITS: Record<'cloud_masking' | 'snow_ice_masking', number> = {
  cloud_masking: (1 << 1) | (1 << 2) | (1 << 3),
  snow_ice_masking: 1 << 4,
};
const FMASK_FILL = 255;

/** Whether a classification value is flagged for a masking option. */
export function flagged(
  scheme: ClassificationScheme,
  key: 'cloud_masking' | 'snow_ice_masking',
  value: number,
): boolean {
  if (scheme === 'scl') return SCL_CLASSES[key].has(value);
  return value !== FMASK_FILL && (value & FMASK_BITS[key]) !== 0;
}

export interface PostProcessingSources {
  /** The classification band on the mask's grid. */
  classification?: { scheme: ClassificationScheme; values: ArrayLike<number> };
  /** Clouds found by a cloud model on the mask's grid (non-zero = cloud): cloud_masking without a classification band. */
  cloudMask?: ArrayLike<number>;
  /** Permanent water on the mask's grid: non-zero = water. */
  permanentWater?: ArrayLike<number>;
}

/**
 * Sets masked pixels to `outputNodata` in place; returns, per enabled option, how many pixels it masked
 * that were not nodata already (a pixel flagged by two options counts for the first: clouds, snow, water).
 */
export function applyPostProcessing(
  mask: Uint8Array,
  outputNodata: number,
  options: Partial<Record<PostProcessingKey, boolean>>,
  sources: PostProcessingSources,
): Partial<Record<PostProcessingKey, number>> {
  const counts: Partial<Record<PostProcessingKey, number>> = {};
  const masks: Array<[PostProcessingKey, (index: number) => boolean]> = [];
  const cloudMask = sources.cloudMask;
  if (options.cloud_masking && !sources.classification && cloudMask) {
    if (cloudMask.length !== mask.length)
      throw new Error(`cloud mask has ${cloudMask.length} pixels, the mask ${mask.length}`);
    masks.push(['cloud_masking', (index) => cloudMask[index] !== 0]);
  }
  for (const key of ['cloud_masking', 'snow_ice_masking'] as const) {
    if (!options[key] || (key === 'cloud_masking' && !sources.classification && cloudMask)) continue;
    const classification = sources.classification;
    if (!classification) throw new Error(`${key} needs the scene classification band`);
    if (classification.values.length !== mask.length)
      throw new Error(`classification has ${classification.values.length} pixels, the mask ${mask.length}`);
    masks.push([key, (index) => flagged(classification.scheme, key, classification.values[index])]);
  }
  if (options.permanent_water_masking) {
    const water = sources.permanentWater;
    if (!water) throw new Error('permanent_water_masking needs the permanent water reference');
    if (water.length !== mask.length)
      throw new Error(`permanent water has ${water.length} pixels, the mask ${mask.length}`);
    masks.push(['permanent_water_masking', (index) => water[index] !== 0]);
  }
  for (const [key] of masks) counts[key] = 0;
  if (masks.length === 0) return counts;
  for (let index = 0; index < mask.length; index++) {
    if (mask[index] === outputNodata) continue;
    for (const [key, isMasked] of masks) {
      if (isMasked(index)) {
        mask[index] = outputNodata;
        counts[key]! += 1;
        break;
      }
    }
  }
  return counts;
}
