import * as path from 'node:path';
import { currentActivity, stepHeartbeat } from './runtime/activity-context';
import { ApplicationFailure } from '@temporalio/activity';
import type { ProcessorPlan } from '../workflows/contract/types';
import type { ActivityDeps } from './deps';
import type { AppConfig } from '../src/platform/config/config';
import { CogError, hasFloatSamples, toCloudOptimizedGeoTiff } from '../src/geo/raster/cog';
import { ProcessorRuntime } from '../src/geo/processors/processor-runtime';
import { processorLimits, withProcessorRun } from '../src/geo/processors/run-processor';
import type { LifecycleItemReport, LifecycleProcessorSpec } from '../src/geo/processors/warm-processors';
import { runGroupItems, type GroupStepResult } from './runtime/step-group';
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

/** `generic-python-processor` for several tasks of one inference in one activity (a lifecycle processor gets them in one call). */
export interface GenericProcessorManyRequest {
  inferenceId: string;
  workflowId: string;
  processor: ProcessorPlan;
  items: Array<{ taskId: string; inputKey: string }>;
}

/** Script runs at once in a grouped activity (each is its own sandboxed process). */
const SCRIPT_GROUP_CONCURRENCY = 2;

/** A processor that fails the same way on every attempt (its exit code, a limit, a missing output). */
function processorError(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'ProcessorError', nonRetryable: true });
}

export function createGenericProcessorActivities(deps: ActivityDeps) {
  /** Converts the processor's output to a COG and stores it as the raster the push step publishes. */
  async function storeOutput(request: GenericProcessorRequest, outputPath: string, dir: string): Promise<string> {
    const context = currentActivity();
    // What gets published is a Cloud-Optimized GeoTIFF, whatever layout the processor wrote.
    const cogFile = path.join(dir, 'processed-cog.tif');
    // Continuous (float) outputs, e.g. a processed regression raster, average in overviews; classes stay nearest.
    const float = await hasFloatSamples(outputPath, { gdalBinDir: deps.config.GDAL_BIN_DIR });
    await toCloudOptimizedGeoTiff(outputPath, cogFile, {
      gdalBinDir: deps.config.GDAL_BIN_DIR,
      resampling: float ? 'AVERAGE' : 'NEAREST',
      signal: context?.cancellationSignal,
    }).catch((error: unknown) => {
      if (error instanceof CogError && error.setupProblem)
        throw ApplicationFailure.nonRetryable(error.message, 'WorkerConfigurationError');
      throw error instanceof CogError
        ? processorError(`the processor's output cannot be made a Cloud-Optimized GeoTIFF: ${error.message}`)
        : error;
    });
    const outputKey = storageKeys.processorOutput(request.inferenceId, request.taskId);
    await deps.store.putFile(outputKey, cogFile, { contentType: 'image/tiff' });
    return outputKey;
  }

  /**
   * Heartbeats while `body` runs: a stop reaches the run and a dead worker is noticed while the processor works
   * (inside a grouped activity they are this task's progress, not the group's heartbeat).
   */
  async function beating<T>(what: string, body: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => stepHeartbeat({ running: what }), 1000);
    try {
      return await body();
    } finally {
      clearInterval(timer);
    }
  }

  /** Seed 000's one-shot script: a fresh sandboxed process per task. */
  async function runScript(request: GenericProcessorRequest, log: StepLog): Promise<GenericProcessorResult> {
    return withTempDir('processor-files', async (dir) => {
      const { processor } = request;
      const scriptFile = path.join(dir, 'script.py');
      const inputFile = path.join(dir, 'input.tif');
      await deps.store.downloadToFile(processor.file_key, scriptFile);
      await deps.store.downloadToFile(request.inputKey, inputFile);
      log.info(
        `processor ${processor.name} (${processor.id}), file ${processor.file_name}, parameters ${JSON.stringify(processor.parameters)}`,
      );
      const context = currentActivity();
      return beating(processor.file_name, () =>
        withProcessorRun(
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
            if (context?.cancellationSignal.aborted) throw context.cancellationSignal.reason ?? new Error('cancelled');
            // The sandbox itself failed on this worker: another attempt (maybe on another worker) may work.
            if (report.sandbox_error)
              throw ApplicationFailure.create({
                message: report.reason ?? 'processor sandbox failed',
                type: 'ProcessorSandboxError',
              });
            if (report.failure || !report.outputPath) throw processorError(report.failure ?? 'no output');
            return {
              outputKey: await storeOutput(request, report.outputPath, dir),
              exit_code: report.exit_code ?? 0,
              duration_ms: report.duration_ms,
              result: report.result,
            };
          },
        ),
      );
    });
  }

  /** What a lifecycle call's report means for the task: its result, or the failure the step records. */
  async function finishLifecycleTask(
    request: GenericProcessorRequest,
    report: LifecycleItemReport,
    log: StepLog,
    dir: string,
  ): Promise<GenericProcessorResult> {
    const context = currentActivity();
    log.output(report.log);
    log.info(
      `${report.setup_ms !== null ? `setup ran in a fresh warm process (${report.setup_ms} ms); ` : 'warm process reused; '}` +
        `call of ${report.batch_size} task(s) took ${report.duration_ms} ms (the processor's own code ${report.user_ms ?? '?'} ms)`,
    );
    if (context?.cancellationSignal.aborted) throw context.cancellationSignal.reason ?? new Error('cancelled');
    if (report.sandboxError)
      throw ApplicationFailure.create({
        message: report.failure ?? 'processor sandbox failed',
        type: 'ProcessorSandboxError',
      });
    if (report.validation)
      throw ApplicationFailure.create({
        message: report.failure ?? 'invalid input',
        type: 'ProcessorValidationError',
        nonRetryable: true,
      });
    if (report.failure || !report.outputPath) throw processorError(report.failure ?? 'no output');
    return {
      outputKey: await storeOutput(request, report.outputPath, dir),
      exit_code: 0,
      duration_ms: report.duration_ms,
      result: report.result,
    };
  }

  function lifecycleSpec(processor: ProcessorPlan): LifecycleProcessorSpec {
    return {
      processorId: processor.id,
      processorName: processor.name,
      user: processor.user ?? '',
      fileKey: processor.file_key,
      scriptName: processor.file_name,
      parameters: processor.parameters,
      loadScript: (destination) => deps.store.downloadToFile(processor.file_key, destination),
    };
  }

  /**
   * Lifecycle processor tasks through the worker's warm process of the processor: one call for all of them
   * (process_batch when it has one), each task with its own outcome and log.
   */
  async function runLifecycle(
    inferenceId: string,
    workflowId: string,
    processor: ProcessorPlan,
    items: Array<{ taskId: string; inputKey: string }>,
  ): Promise<GroupStepResult<GenericProcessorResult>> {
    const context = currentActivity();
    const reports = new Map<string, (report: LifecycleItemReport) => void>();
    const finished: Promise<unknown>[] = [];
    const ready = new Map<string, { inputFile: string } | null>();
    let fire: () => void = () => undefined;
    const allReady = new Promise<void>((resolve) => (fire = resolve));
    const settle = (taskId: string, value: { inputFile: string } | null) => {
      ready.set(taskId, value);
      if (ready.size === items.length) fire();
    };
    // The call starts when every task has its input downloaded (or failed to).
    const call = allReady.then(async () => {
      const members = items.filter((item) => ready.get(item.taskId));
      if (members.length === 0) return;
      await deps.warmProcessors.run(
        lifecycleSpec(processor),
        members.map((item) => ({ inputFile: ready.get(item.taskId)!.inputFile, parameters: processor.parameters })),
        processorLimits(deps.config),
        context?.cancellationSignal,
        async (answers) => {
          members.forEach((item, index) => reports.get(item.taskId)?.(answers[index]!));
          // The outputs live until every task has stored its own.
          await Promise.allSettled(finished);
        },
        { batch: true },
      );
    });
    return runGroupItems(items, items.length, (item) => {
      const request: GenericProcessorRequest = {
        inferenceId,
        workflowId,
        processor,
        taskId: item.taskId,
        inputKey: item.inputKey,
      };
      const log = new StepLog(deps.dataSource, item.taskId, 'generic-python-processor');
      const work = withStepLog(log, () =>
        withTempDir('processor-files', async (dir) => {
          const report = new Promise<LifecycleItemReport>((resolve) => reports.set(item.taskId, resolve));
          try {
            const inputFile = path.join(dir, 'input.tif');
            await deps.store.downloadToFile(item.inputKey, inputFile);
            log.info(
              `lifecycle processor ${processor.name} (${processor.id}), file ${processor.file_name}, parameters ${JSON.stringify(processor.parameters)}`,
            );
            settle(item.taskId, { inputFile });
          } catch (error) {
            settle(item.taskId, null);
            throw error;
          }
          const answer = await beating(processor.file_name, () => Promise.race([report, call.then(() => report)]));
          return finishLifecycleTask(request, answer, log, dir);
        }),
      );
      // A task that failed before its input was ready must not hold up the call of the others.
      finished.push(
        work
          .catch(() => undefined)
          .then(() => {
            if (!ready.has(item.taskId)) settle(item.taskId, null);
          }),
      );
      return work;
    }).finally(() => call.catch(() => undefined));
  }

  return {
    /**
     * `generic-python-processor`: runs the user's processor on the model output in the sandbox, keeps its
     * output as the step log, and stores its output as the raster the push step publishes.
     */
    async runGenericProcessor(request: GenericProcessorRequest): Promise<GenericProcessorResult> {
      if (request.processor.style === 'lifecycle') {
        const [outcome] = (
          await runLifecycle(request.inferenceId, request.workflowId, request.processor, [
            { taskId: request.taskId, inputKey: request.inputKey },
          ])
        ).items;
        if (outcome!.ok) return outcome!.result;
        throw ApplicationFailure.create({
          message: outcome!.message,
          type: outcome!.error_type ?? 'ProcessorError',
          nonRetryable: !outcome!.retryable,
        });
      }
      const log = new StepLog(deps.dataSource, request.taskId, 'generic-python-processor');
      return withStepLog(log, () => runScript(request, log));
    },

    /** `generic-python-processor` of several tasks: each keeps its own outcome, log and status. */
    async runGenericProcessors(request: GenericProcessorManyRequest): Promise<GroupStepResult<GenericProcessorResult>> {
      if (request.processor.style === 'lifecycle')
        return runLifecycle(request.inferenceId, request.workflowId, request.processor, request.items);
      return runGroupItems(request.items, SCRIPT_GROUP_CONCURRENCY, (item) => {
        const task: GenericProcessorRequest = {
          inferenceId: request.inferenceId,
          workflowId: request.workflowId,
          processor: request.processor,
          taskId: item.taskId,
          inputKey: item.inputKey,
        };
        const log = new StepLog(deps.dataSource, item.taskId, 'generic-python-processor');
        return withStepLog(log, () => runScript(task, log));
      });
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
