import { bboxAreaKm2, geometryBbox, mgrsTileBbox, polygonGeometry, type Bbox } from '../../geo/stac/spatial-domain';
import { parseTemporalEntry } from '../../geo/stac/temporal-domain';
import type { DataSourceId, StacTaskInput, TaskInput, TaskTemporal } from '../../../workflows/contract/types';
import { ApiError } from '../http/api-error';
import type { CreateInferenceRequest } from './inferences.dto';

export const MAX_TASKS = 10_000;

/** The id of an inference's task: `<inference id>-task-001` for the first. */
export function taskId(inferenceId: string, index: number): string {
  return `${inferenceId}-task-${String(index + 1).padStart(3, '0')}`;
}

interface Area {
  field: string;
  label: string;
  bbox: Bbox;
  geometry?: StacTaskInput['geometry'];
  mgrs_tile?: string;
}

/** Chip size in pixels of a WGS84 bbox at a resolution (its geodesic area over the pixel area). */
export function chipPixels(bbox: Bbox, resolutionM: number): number {
  return Math.ceil((bboxAreaKm2(bbox) * 1e6) / (resolutionM * resolutionM));
}

/**
 * The tasks of a request: one per URL, then one per area (bbox, polygon, tile) x temporal_domain entry.
 * The DTO has checked the shape of every entry; this checks what depends on the model and the limits,
 * answering 422 naming the field.
 */
export function buildTaskInputs(
  request: Pick<CreateInferenceRequest, 'spatial_domain' | 'temporal_domain' | 'maxcc' | 'data_source'>,
  options: { resolutionM: number; maxChipPixels: number; temporal?: TaskTemporal },
): TaskInput[] {
  const domain = request.spatial_domain;
  const areas: Area[] = [
    ...(domain.bbox ?? []).map((bbox, index) => ({
      field: `spatial_domain.bbox.${index}`,
      label: `bbox ${JSON.stringify(bbox)}`,
      bbox: bbox as Bbox,
    })),
    ...(domain.polygons ?? []).map((value, index) => {
      const geometry = polygonGeometry(value);
      return {
        field: `spatial_domain.polygons.${index}`,
        label: `polygon ${index + 1}`,
        bbox: geometryBbox(geometry),
        geometry,
      };
    }),
    ...(domain.tiles ?? []).map((tile, index) => ({
      field: `spatial_domain.tiles.${index}`,
      label: `tile ${tile}`,
      bbox: mgrsTileBbox(tile),
      mgrs_tile: tile,
    })),
  ];
  for (const area of areas) {
    const pixels = chipPixels(area.bbox, options.resolutionM);
    if (pixels > options.maxChipPixels) {
      throw ApiError.unprocessable(
        `${area.field}: ${area.label} covers ${bboxAreaKm2(area.bbox).toFixed(0)} km², about ${(pixels / 1e6).toFixed(1)} million pixels at the model's ${options.resolutionM} m resolution; ` +
          `the limit is ${(options.maxChipPixels / 1e6).toFixed(1)} million (CHIP_MAX_PIXELS): split it into smaller areas`,
        area.field,
      );
    }
  }
  if (areas.length > 0 && request.temporal_domain.length === 0) {
    throw ApiError.unprocessable(
      'temporal_domain: bbox, polygons and tiles need at least one date (YYYY-MM-DD) or interval (start/end) to search imagery for',
      'temporal_domain',
    );
  }
  const total = (domain.urls?.length ?? 0) + areas.length * request.temporal_domain.length;
  if (total > MAX_TASKS) {
    throw ApiError.unprocessable(
      `spatial_domain: ${total} tasks (areas x dates + URLs) is over the limit of ${MAX_TASKS}`,
      'spatial_domain',
    );
  }
  const dataSource: DataSourceId = request.data_source ?? 'sentinel-2-l2a';
  const inputs: TaskInput[] = (domain.urls ?? []).map((entry) =>
    typeof entry === 'string'
      ? { kind: 'url', url: entry }
      : { kind: 'series', frames: entry.map((url) => ({ kind: 'url' as const, url })) },
  );
  for (const area of areas) {
    for (const date of request.temporal_domain) {
      inputs.push({
        kind: 'stac',
        data_source: dataSource,
        area_label: area.label,
        bbox: area.bbox,
        ...(area.geometry ? { geometry: area.geometry } : {}),
        ...(area.mgrs_tile ? { mgrs_tile: area.mgrs_tile } : {}),
        date,
        datetime: parseTemporalEntry(date).datetime,
        maxcc: request.maxcc ?? 100,
        ...(options.temporal ? { temporal: options.temporal } : {}),
      });
    }
  }
  return inputs;
}
