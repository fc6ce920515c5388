import { ModelThreadPool } from '../../geo/model/model-thread';
import { FrameStackError, ModelShapeError, OnnxSegmenter } from '../../geo/model/segmentation';
import { readGeoTiff } from '../../geo/raster/decode';
import type { Raster } from '../../geo/raster/raster';
import type { ModelInputDataSpec } from '../../../workflows/contract/model-spec';
import { ApiError } from '../http/api-error';

/** A golden input is meant to be small: it runs inside the registration request. */
export const GOLDEN_MAX_PIXELS = 2048 * 2048;
export const GOLDEN_MAX_BYTES = 64 * 1024 * 1024;

export interface GoldenTolerance {
  /** A pixel differs when |output - expected| is over this. */
  tolerance: number;
  /** The most differing pixels accepted. */
  max_differing_pixels: number;
}

export interface GoldenComparison {
  width: number;
  height: number;
  bands: number;
  pixels: number;
  max_difference: number;
  differing_pixels: number;
}

async function readGolden(filePath: string, size: number, field: string): Promise<Raster> {
  if (size === 0) throw ApiError.badRequest(`${field}: the file is empty`, field);
  if (size > GOLDEN_MAX_BYTES)
    throw ApiError.unprocessable(
      `${field}: ${size} bytes is over the ${GOLDEN_MAX_BYTES / 1024 / 1024} MiB of a golden file: give a small chip`,
      field,
    );
  let raster: Raster;
  try {
    raster = await readGeoTiff(filePath);
  } catch (error) {
    throw ApiError.unprocessable(`${field}: not a readable GeoTIFF: ${(error as Error).message}`, field);
  }
  if (raster.width * raster.height > GOLDEN_MAX_PIXELS) {
    throw ApiError.unprocessable(
      `${field}: ${raster.width} x ${raster.height} pixels is over the ${GOLDEN_MAX_PIXELS} pixels of a golden file: give a small chip`,
      field,
    );
  }
  return raster;
}

/**
 * Pixel-by-pixel comparison of one band of a model output with its band of the expected GeoTIFF: the largest
 * absolute difference and how many pixels differ by more than `tolerance`. NaN against NaN is equal; NaN against a
 * number differs by Infinity.
 */
export function compareOutputs(
  output: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  /** Set to 1 at each differing pixel (several bands marking one array count a pixel once). */
  differs?: Uint8Array,
): { max_difference: number; differing_pixels: number } {
  let maxDifference = 0;
  let differing = 0;
  for (let index = 0; index < output.length; index++) {
    const a = output[index]!;
    const b = expected[index]!;
    const difference =
      Number.isNaN(a) || Number.isNaN(b) ? (Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity) : Math.abs(a - b);
    if (difference > maxDifference) maxDifference = difference;
    if (difference > tolerance) {
      differing++;
      if (differs) differs[index] = 1;
    }
  }
  return { max_difference: maxDifference, differing_pixels: differing };
}

/**
 * Runs the golden input through the platform's own tiling and runtime (OnnxSegmenter, the code the model step
 * uses) and compares the result with the expected output. Answers 422 naming `golden_output` when the model
 * drifts beyond the tolerance, with the largest difference and the count of differing pixels, so a broken ONNX
 * export is refused before it runs on real imagery.
 */
export async function checkGoldenPair(
  modelPath: string,
  spec: ModelInputDataSpec,
  files: { input: { path: string; size: number }; expectedOutput: { path: string; size: number } },
  limits: GoldenTolerance,
): Promise<GoldenComparison> {
  const input = await readGolden(files.input.path, files.input.size, 'golden_input');
  const expected = await readGolden(files.expectedOutput.path, files.expectedOutput.size, 'golden_output');
  if (expected.width !== input.width || expected.height !== input.height) {
    throw ApiError.unprocessable(
      `golden_output: ${expected.width} x ${expected.height} pixels, but golden_input is ${input.width} x ${input.height}: the expected output must be on the input's grid`,
      'golden_output',
    );
  }
  const threads = new ModelThreadPool(1);
  const pixels = input.width * input.height;
  // One array per band: a class mask, or every output channel of a regression model (NaN nodata compares like any
  // other value of golden_output).
  let outputs: Array<Uint8Array | Float32Array>;
  try {
    const segmenter = await OnnxSegmenter.load(threads, modelPath, spec);
    if (spec.task_type === 'regression') {
      const outcome = await segmenter.segmentDetailed(input);
      outputs = Array.from({ length: outcome.channels ?? 1 }, (_, c) =>
        outcome.values!.subarray(c * pixels, (c + 1) * pixels),
      );
    } else outputs = [await segmenter.segment(input)];
  } catch (error) {
    const message = (error as Error).message;
    if (error instanceof ModelShapeError || error instanceof FrameStackError || /band|source_index|std/i.test(message))
      throw ApiError.unprocessable(`golden_input: the model could not run on it: ${message}`, 'golden_input');
    throw ApiError.unprocessable(`model_file: running the golden input failed: ${message}`, 'model_file');
  } finally {
    await threads.close();
  }
  if (spec.task_type === 'regression' && expected.bandCount !== outputs.length) {
    throw ApiError.unprocessable(
      `golden_output: ${expected.bandCount} band(s), but the model writes ${outputs.length} output channel(s): the expected output needs one band per channel`,
      'golden_output',
    );
  }
  // Every band against its expected band; a pixel differs when any of its bands does.
  const differs = new Uint8Array(pixels);
  let max_difference = 0;
  outputs.forEach((output, band) => {
    const compared = compareOutputs(output, expected.bands[band]!, limits.tolerance, differs);
    max_difference = Math.max(max_difference, compared.max_difference);
  });
  const differing_pixels = differs.reduce((sum, flag) => sum + flag, 0);
  if (differing_pixels > limits.max_differing_pixels) {
    throw ApiError.unprocessable(
      `golden_output: the model's output on golden_input differs from the expected output at ${differing_pixels} of ${pixels} pixels ` +
        `(max difference ${max_difference}; tolerance ${limits.tolerance}, at most ${limits.max_differing_pixels} differing pixels accepted): ` +
        'the ONNX file does not reproduce the expected predictions',
      'golden_output',
      { max_difference, differing_pixels, pixels },
    );
  }
  return { width: input.width, height: input.height, bands: input.bandCount, pixels, max_difference, differing_pixels };
}
