import * as path from 'node:path';
import { currentActivity } from './runtime/activity-context';
import { ApplicationFailure } from '@temporalio/activity';
import type { ProcessorPlan } from '../workflows/contract/types';
import type { ActivityDeps } from './deps';
import type { AppConfig } from '../src/platform/config/config';
import { CogError, toCloudOptimizedGeoTiff } from '../src/geo/raster/cog';
import { ProcessorRuntime } from '../src/geo/processors/processor-runtime';
import { processorLimits, withProcessorRun } from '../src/geo/processors/run-processor';
import { StepLog, withStepLog } from './runtime/step-log';
import { storageKeys } from '../src/platform/storage/keys';
import { withTempDir } from '../src/platform/temp-dir';

export interface GenericProcessorRequest {
  inferenceId: string;
  taskId: string;
  workflowId: string;
  processor: ProcessorPlan;
  inputKey: string;
}

export interface GenericProcessorResult {
  outputKey: string;
  exit_code: number;
  duration_ms: number;
  /** The last JSON line the script printed. */
  result: Record<string, unknown> | null;
}

/** A processor that fails the same way on every attempt (its exit code, a limit, a missing output). */
function processorError(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'ProcessorError', nonRetryable: true });
}

export function createGenericProcessorActivities(deps: ActivityDeps) {
  return {
    /**
     * `generic-python-processor`: runs the user's script on the model output in the sandbox, keeps its
     * stdout/stderr as the step log, and stores its output as the raster the push step publishes.
     */
    async runGenericProcessor(request: GenericProcessorRequest): Promise<GenericProcessorResult> {
      const log = new StepLog(deps.dataSource, request.taskId, 'generic-python-processor');
      return withStepLog(log, () =>
        withTempDir('processor-files', async (dir) => {
          const { processor } = request;
          const scriptFile = path.join(dir, 'script.py');
          const inputFile = path.join(dir, 'input.tif');
          await deps.store.downloadToFile(processor.file_key, scriptFile);
          await deps.store.downloadToFile(request.inputKey, inputFile);
          log.info(
            `processor ${processor.name} (${processor.id}), file ${processor.file_name}, parameters ${JSON.stringify(processor.parameters)}`,
          );
          const context = currentActivity();
          // Heartbeats let a stop reach the run and a dead worker be noticed while the script works.
          const heartbeat = setInterval(() => context?.heartbeat({ running: processor.file_name }), 1000);
          try {
            return await withProcessorRun(
              deps.processorRuntime,
              { scriptFile, scriptName: processor.file_name, inputFile, parameters: processor.parameters },
              processorLimits(deps.config),
              context?.cancellationSignal,
              async (report) => {
                log.info(`python ${report.argv.map((arg) => (arg.includes(' ') ? `'${arg}'` : arg)).join(' ')}`);
                log.output(report.log);
                log.info(
                  `exit code ${report.exit_code ?? report.signal ?? 'none'} after ${report.duration_ms} ms (the script's own code ${report.script_ms ?? '?'} ms)`,
                );
                if (context?.cancellationSignal.aborted)
                  throw context.cancellationSignal.reason ?? new Error('cancelled');
                // The sandbox itself failed on this worker: another attempt (maybe on another worker) may work.
                if (report.sandbox_error)
                  throw ApplicationFailure.create({
                    message: report.reason ?? 'processor sandbox failed',
                    type: 'ProcessorSandboxError',
                  });
                if (report.failure || !report.outputPath) throw processorError(report.failure ?? 'no output');
                // What gets published is a Cloud-Optimized GeoTIFF, whatever layout the script wrote.
                const cogFile = path.join(dir, 'processed-cog.tif');
                await toCloudOptimizedGeoTiff(report.outputPath, cogFile, {
                  gdalBinDir: deps.config.GDAL_BIN_DIR,
                  resampling: 'NEAREST',
                  signal: context?.cancellationSignal,
                }).catch((error: unknown) => {
                  if (error instanceof CogError && error.setupProblem)
                    throw ApplicationFailure.nonRetryable(error.message, 'WorkerConfigurationError');
                  throw error instanceof CogError
                    ? processorError(
                        `the processor's output cannot be made a Cloud-Optimized GeoTIFF: ${error.message}`,
                      )
                    : error;
                });
                const outputKey = storageKeys.processorOutput(request.inferenceId, request.taskId);
                await deps.store.putFile(outputKey, cogFile, { contentType: 'image/tiff' });
                return {
                  outputKey,
                  exit_code: report.exit_code ?? 0,
                  duration_ms: report.duration_ms,
                  result: report.result,
                };
              },
            );
          } finally {
            clearInterval(heartbeat);
          }
        }),
      );
    },
  };
}

/** The worker's processor runtime; closed when the worker stops. */
export function createProcessorRuntime(
  config: Pick<AppConfig, 'PYTHON_BIN' | 'PROCESSOR_UID_BASE' | 'PROCESSOR_PREIMPORT'>,
  onLog?: (line: string) => void,
): ProcessorRuntime {
  return new ProcessorRuntime({
    pythonBin: config.PYTHON_BIN,
    uidBase: config.PROCESSOR_UID_BASE,
    preimport: config.PROCESSOR_PREIMPORT,
    onLog,
  });
}
