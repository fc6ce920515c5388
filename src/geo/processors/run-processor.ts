import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AppConfig } from '../../platform/config/config';
import { checkTiffSignature, inspectGeoTiff } from '../raster/inspect';
import { InvalidGeoTiffError } from '../raster/invalid-geotiff';
import type { ProcessorLimits, ProcessorRunOutcome, ProcessorRuntime } from './processor-runtime';

export interface ProcessorRunSpec {
  /** The processor's script on local disk and the file name it was uploaded with. */
  scriptFile: string;
  scriptName: string;
  /** The raster to process (the model output in the pipeline). */
  inputFile: string;
  parameters: Record<string, unknown>;
}

export interface ProcessorRunReport extends ProcessorRunOutcome {
  /** Where the script wrote its output (inside the run directory), when it did. */
  outputPath: string | null;
  /** Why the step fails, or null: the script's failure, a missing output, or an output that is no GeoTIFF. */
  failure: string | null;
  /** The paths the script saw, for the log. */
  argv: string[];
}

/** The settings processorLimits reads. */
export type ProcessorLimitSettings = Pick<
  AppConfig,
  | 'PROCESSOR_TIMEOUT_SECONDS'
  | 'PROCESSOR_MEMORY_MB'
  | 'PROCESSOR_MAX_PROCESSES'
  | 'PROCESSOR_MAX_LOG_BYTES'
  | 'PROCESSOR_MAX_OUTPUT_BYTES'
  | 'PROCESSOR_TMP_MB'
>;

export function processorLimits(config: ProcessorLimitSettings): ProcessorLimits {
  return {
    timeoutSeconds: config.PROCESSOR_TIMEOUT_SECONDS,
    memoryMb: config.PROCESSOR_MEMORY_MB,
    maxProcesses: config.PROCESSOR_MAX_PROCESSES,
    maxLogBytes: config.PROCESSOR_MAX_LOG_BYTES,
    maxOutputBytes: config.PROCESSOR_MAX_OUTPUT_BYTES,
    tmpMb: config.PROCESSOR_TMP_MB,
  };
}

/**
 * Runs a processor the way the pipeline does, `python <script> <input_path> <output_path> <parameters_json>`
 * in a fresh run directory holding only the script, the input and the output, then checks the output.
 * Used by the `generic-python-processor` activity and by `npm run processor:run` for processor authors.
 * The run directory is removed after `use` returns.
 */
export async function withProcessorRun<T>(
  runtime: ProcessorRuntime,
  spec: ProcessorRunSpec,
  limits: ProcessorLimits,
  signal: AbortSignal | undefined,
  use: (report: ProcessorRunReport) => Promise<T>,
  options: { inspectOutput?: boolean } = {},
): Promise<T> {
  const base = await fsp.mkdtemp(path.join(os.tmpdir(), 'geo-processor-'));
  try {
    const workDir = path.join(base, 'run');
    const script = path.join(workDir, spec.scriptName);
    const inputPath = path.join(workDir, 'input', 'model-output.tif');
    await Promise.all([
      fsp.mkdir(path.join(workDir, 'input'), { recursive: true }),
      fsp.mkdir(path.join(workDir, 'output'), { recursive: true }),
    ]);
    await Promise.all([fsp.copyFile(spec.scriptFile, script), fsp.copyFile(spec.inputFile, inputPath)]);
    const outputPath = path.join(workDir, 'output', 'processed.tif');
    const argv = [inputPath, outputPath, JSON.stringify(spec.parameters ?? {})];
    const outcome = await runtime.run({
      script,
      args: argv,
      workDir,
      stateDir: path.join(base, 'state'),
      limits,
      signal,
    });
    let failure = outcome.reason;
    let output: string | null = null;
    if (!failure) {
      const stat = await fsp.stat(outputPath).catch(() => null);
      if (!stat?.isFile()) {
        failure = `the processor exited with code 0 but wrote no output file at ${outputPath} (its second argument)`;
      } else {
        try {
          // The header here; the whole file is read (and refused with GDAL's reason) by the COG conversion.
          if (options.inspectOutput) await inspectGeoTiff(outputPath);
          else await checkTiffSignature(outputPath);
          output = outputPath;
        } catch (error) {
          if (!(error instanceof InvalidGeoTiffError)) throw error;
          failure = `the processor's output is not a readable GeoTIFF: ${error.message}`;
        }
      }
    }
    return await use({ ...outcome, outputPath: output, failure, argv: [spec.scriptName, ...argv] });
  } finally {
    // Removed in the background: the result does not wait for the unlinks.
    void fsp.rm(base, { recursive: true, force: true }).catch(() => undefined);
  }
}
