/**
 * STAC raster:bands of continuous outputs (issue 14 item 2, issue 17 item 1): a regression prediction's bands
 * (data type, nodata, unit, scale / offset, no classification) and the probabilities asset of a segmentation model.
 * Regression values are stored with output_scale / output_offset already applied, so the bands say scale 1, offset 0.
 */
import { COG_MEDIA_TYPE, type StacAssetRef } from '../src/geo/export/stac-catalog';
import type { Raster } from '../src/geo/raster/raster';
import { affineOf } from '../src/geo/raster/georeference';
import { probabilitiesType, type ModelInputDataSpec } from '../workflows/contract/model-spec';

/** STAC's raster extension writes a NaN nodata as the string "nan". */
function stacNodata(value: number | null): number | string | null {
  if (value === null) return null;
  return Number.isNaN(value) ? 'nan' : value;
}

function pixelSize(raster: Raster): number | undefined {
  const affine = affineOf(raster.georef);
  if (!affine) return undefined;
  const [a, b, , d, e] = affine as [number, number, number, number, number, number];
  return Math.sqrt(Math.abs(a * e - b * d));
}

export function regressionBands(spec: ModelInputDataSpec, raster: Raster): Array<Record<string, unknown>> {
  const resolution = pixelSize(raster);
  return Array.from({ length: raster.bandCount }, (_, index) => ({
    name: spec.output_bands?.[index] ?? `band_${index + 1}`,
    data_type: raster.dataType,
    nodata: stacNodata(raster.nodata ?? null),
    ...(spec.units ? { unit: spec.units } : {}),
    scale: 1,
    offset: 0,
    ...(resolution !== undefined ? { spatial_resolution: resolution } : {}),
    sampling: 'area',
  }));
}

export function probabilitiesAsset(spec: ModelInputDataSpec): StacAssetRef {
  const type = probabilitiesType(spec) ?? 'uint8';
  return {
    href: 'probabilities.tif',
    type: COG_MEDIA_TYPE,
    roles: ['data'],
    title: `Class probabilities (${type === 'uint8' ? 'percent 0-100' : 'float32 0-1'}), one band per class`,
    extra: {
      'raster:bands': spec.classes.map((entry) => ({
        name: entry.name,
        description: `probability of class ${entry.value} (${entry.name})`,
        data_type: type,
        nodata: type === 'uint8' ? 255 : 'nan',
        unit: type === 'uint8' ? 'percent' : '1',
        scale: 1,
        offset: 0,
        sampling: 'area',
      })),
    },
  };
}
