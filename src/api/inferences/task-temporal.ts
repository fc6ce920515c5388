import type { ModelEntity } from '../../platform/database/entities';
import type { TaskInput, TaskTemporal } from '../../../workflows/contract/types';
import { graphFrames } from '../../geo/model/temporal-input';
import { ApiError } from '../http/api-error';
import type { RequestTemporal } from '../models/temporal.dto';

type Dim = number | string | undefined;

/** The image input's shape as stored at registration (`onnx_signature`), when known. */
function imageInputDims(model: ModelEntity): Dim[] | undefined {
  const signature = model.onnxSignature as { inputs?: Array<{ name: string; dims?: Dim[] }> } | null;
  const datesName = model.modelInputDataSpec.temporal?.dates_input?.name;
  return signature?.inputs?.find((input) => input.name !== datesName)?.dims;
}

/**
 * The stack every area x date task of a request builds: the model's `temporal` values with the request's
 * overrides, within what the model accepts (422 naming the field otherwise). Undefined for a single-date model,
 * which accepts `num_steps` 1 only (temporal_step and temporal_tolerance have nothing to space or widen there).
 */
export function resolveTaskTemporal(
  model: ModelEntity,
  requested: RequestTemporal | undefined,
): TaskTemporal | undefined {
  const spec = model.modelInputDataSpec.temporal;
  if (!spec) {
    if (requested?.num_steps !== undefined && requested.num_steps !== 1)
      throw ApiError.unprocessable(
        `temporal.num_steps: model ${model.displayName} takes one date (it declares no temporal input), so num_steps must be 1, not ${requested.num_steps}`,
        'temporal.num_steps',
      );
    return undefined;
  }
  const numSteps = requested?.num_steps ?? spec.num_steps;
  const dims = imageInputDims(model);
  const fixedFrames = dims ? graphFrames(spec, model.modelInputDataSpec.bands.length, dims) : undefined;
  if (fixedFrames !== undefined && numSteps !== fixedFrames)
    throw ApiError.unprocessable(
      `temporal.num_steps: model ${model.displayName}'s graph takes exactly ${fixedFrames} time steps (input shape [${dims!.join(', ')}]), not ${numSteps}`,
      'temporal.num_steps',
    );
  return {
    num_steps: numSteps,
    temporal_step: requested?.temporal_step ?? spec.temporal_step,
    temporal_tolerance: requested?.temporal_tolerance ?? spec.temporal_tolerance,
  };
}

/** A time series given as a list of URLs needs a time series model, and as many frames as a fixed graph takes. */
export function checkSeriesForModel(
  entries: Array<string | string[]>,
  model: ModelEntity,
  fieldPrefix = 'spatial_domain.urls',
): void {
  const spec = model.modelInputDataSpec.temporal;
  const dims = imageInputDims(model);
  const fixedFrames = spec && dims ? graphFrames(spec, model.modelInputDataSpec.bands.length, dims) : undefined;
  entries.forEach((entry, index) => {
    if (typeof entry === 'string') return;
    const field = `${fieldPrefix}.${index}`;
    if (!spec)
      throw ApiError.unprocessable(
        `${field}: a list of ${entry.length} GeoTIFFs is a time series, but model ${model.displayName} takes one date (it declares no temporal input)`,
        field,
      );
    if (fixedFrames !== undefined && entry.length !== fixedFrames)
      throw ApiError.unprocessable(
        `${field}: model ${model.displayName} takes exactly ${fixedFrames} time steps, the series has ${entry.length} GeoTIFF(s)`,
        field,
      );
  });
}

/**
 * The tasks of a bulk upload: the files named by each `series` entry form one time series task (in the entry's
 * order, oldest first), every other file is a task of its own, in upload order.
 */
export function uploadTaskInputs(
  uploads: Array<{ key: string; file_name: string }>,
  series: string[][] | undefined,
  model: ModelEntity,
): TaskInput[] {
  if (!series || series.length === 0)
    return uploads.map((file) => ({ kind: 'object', key: file.key, file_name: file.file_name }));
  const byName = new Map(uploads.map((file) => [file.file_name, file]));
  const grouped = new Set<string>();
  const seriesInputs: TaskInput[] = series.map((names, index) => {
    const frames = names.map((name, frame) => {
      const file = byName.get(name);
      const field = `inference.series.${index}.${frame}`;
      if (!file) throw ApiError.unprocessable(`${field}: no uploaded file is named ${name}`, field);
      if (grouped.has(name)) throw ApiError.unprocessable(`${field}: ${name} is already in a series`, field);
      grouped.add(name);
      return { kind: 'object' as const, key: file.key, file_name: file.file_name };
    });
    return { kind: 'series', frames };
  });
  checkSeriesForModel(series, model, 'inference.series');
  return [
    ...seriesInputs,
    ...uploads
      .filter((file) => !grouped.has(file.file_name))
      .map((file) => ({ kind: 'object' as const, key: file.key, file_name: file.file_name })),
  ];
}
