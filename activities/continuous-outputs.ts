/**
 * The continuous outputs of `model-inference` (issue 14 item 2): a regression model's float32 channels (its
 * output COG) or a segmentation model's class probabilities (a second COG beside the mask), written with AVERAGE
 * overviews (src/geo/raster/continuous-cog.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ActivityDeps } from './deps';
import { probabilitiesToPercent } from '../src/geo/model/continuous';
import type { SegmentOutcome } from '../src/geo/model/model-thread';
import { writeContinuousCog } from '../src/geo/raster/continuous-cog';
import type { Raster } from '../src/geo/raster/raster';
import { storageKeys } from '../src/platform/storage/keys';
import { withTempDir } from '../src/platform/temp-dir';
import {
  probabilitiesType,
  regressionNodata,
  taskTypeOf,
  type ModelInputDataSpec,
} from '../workflows/contract/model-spec';

export interface ContinuousOutputStats {
  band: string;
  min: number | null;
  max: number | null;
  mean: number | null;
  valid_pixels: number;
  units?: string;
}

/** Writes the continuous COG of one task; returns its key and (regression) the value statistics per band. */
export async function continuousOutputs(
  deps: ActivityDeps,
  request: { inferenceId: string; taskId: string },
  spec: ModelInputDataSpec,
  raster: Raster,
  input: Buffer,
  outcome: SegmentOutcome,
  /** Regression with post_processing: 1 where an option masked the pixel. */
  postMasked: Uint8Array | undefined,
): Promise<{ outputKey: string; stats?: ContinuousOutputStats[] }> {
  const values = outcome.values!;
  const channels = outcome.channels ?? 1;
  const pixels = raster.width * raster.height;
  const regression = taskTypeOf(spec) === 'regression';
  let stored: Float32Array | Uint8Array = values;
  let nodata = regression ? regressionNodata(spec) : Number.NaN;
  if (regression && postMasked) {
    for (let c = 0; c < channels; c++)
      for (let i = 0; i < pixels; i++) if (postMasked[i] === 1) values[c * pixels + i] = nodata;
  }
  if (!regression && probabilitiesType(spec) === 'uint8') {
    // NaN marks the input's nodata pixels (model-thread-worker); they become 255 in every band.
    const invalid = Uint8Array.from({ length: pixels }, (_, i) => (Number.isNaN(values[i]!) ? 1 : 0));
    stored = probabilitiesToPercent(values, pixels, channels, invalid);
    nodata = 255;
  }
  const names = regression
    ? Array.from({ length: channels }, (_, c) => spec.output_bands?.[c] ?? `band_${c + 1}`)
    : spec.classes.map((entry) => entry.name);
  const outputKey = regression
    ? storageKeys.modelOutput(request.inferenceId, request.taskId)
    : storageKeys.modelProbabilities(request.inferenceId, request.taskId);
  await withTempDir('continuous-output', async (dir) => {
    const templateFile = path.join(dir, 'input.tif');
    await fs.promises.writeFile(templateFile, input);
    const outFile = path.join(dir, 'output.tif');
    await writeContinuousCog({
      pythonBin: deps.config.PYTHON_BIN,
      templateFile,
      values: stored,
      bands: channels,
      nodata,
      outFile,
      descriptions: names,
      ...(regression && spec.units ? { units: spec.units } : {}),
    });
    await deps.store.putObject(outputKey, await fs.promises.readFile(outFile), { contentType: 'image/tiff' });
  });
  if (!regression) return { outputKey };
  const stats = names.map((band, c) => bandStats(values.subarray(c * pixels, (c + 1) * pixels), nodata, band, spec));
  return { outputKey, stats };
}

function bandStats(
  values: Float32Array,
  nodata: number,
  band: string,
  spec: ModelInputDataSpec,
): ContinuousOutputStats {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let count = 0;
  const nodataIsNaN = Number.isNaN(nodata);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v) || (!nodataIsNaN && v === nodata)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    count += 1;
  }
  return {
    band,
    min: count ? min : null,
    max: count ? max : null,
    mean: count ? sum / count : null,
    valid_pixels: count,
    ...(spec.units ? { units: spec.units } : {}),
  };
}
