import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkTiffSignature, inspectGeoTiff } from '../raster/inspect';
import { InvalidGeoTiffError } from '../raster/invalid-geotiff';
import type { ProcessorLimits, ProcessorRuntime, WarmCallAnswer, WarmCallItem } from './processor-runtime';

/** A lifecycle processor as one user runs it: what makes its warm process, and how to get its file. */
export interface LifecycleProcessorSpec {
  processorId: string;
  processorName: string;
  /** Whose tasks these are: warm processes are never shared between users. */
  user: string;
  /** Identity of the file's content (its storage key): a new file means a new process. */
  fileKey: string;
  scriptName: string;
  /** Passed to setup(); part of the process's identity. */
  parameters: Record<string, unknown>;
  /** Writes the processor's file to `destination` (called only when a process starts). */
  loadScript: (destination: string) => Promise<void>;
}

export interface LifecycleInput {
  /** The raster to process on local disk (the model output in the pipeline). */
  inputFile: string;
  parameters: Record<string, unknown>;
}

/** One input's outcome, like ProcessorRunReport for scripts. */
export interface LifecycleItemReport {
  /** Why the task fails, or null. */
  failure: string | null;
  /** validate() refused the input (ValidationError): not worth retrying. */
  validation: boolean;
  /** The sandbox itself failed on this worker (not the processor): worth retrying elsewhere. */
  sandboxError: boolean;
  /** The dict process() returned. */
  result: Record<string, unknown> | null;
  outputPath: string | null;
  /** What the processor printed during this call (setup's output too when this call started the process). */
  log: string;
  duration_ms: number;
  /** The processor's own code in the call (shared by a batch). */
  user_ms: number | null;
  /** This call started a fresh warm process: its setup's wall time; null when it reused a warm one. */
  setup_ms: number | null;
  /** Tasks in the call (process_batch when > 1). */
  batch_size: number;
}

/** What the runtime reports about warm processes (metrics, spans, state in the API). */
export interface WarmProcessorEvents {
  setup?(event: { spec: LifecycleProcessorSpec; ok: boolean; ms: number; reason?: string }): void;
  call?(event: { spec: LifecycleProcessorSpec; reports: LifecycleItemReport[]; ms: number }): void;
  exit?(event: {
    spec: LifecycleProcessorSpec;
    why: 'idle' | 'deleted' | 'worker-stop' | 'crash';
    reason: string;
  }): void;
  /** Output of cleanup() (no task to attach it to). */
  cleanupLog?(event: { spec: LifecycleProcessorSpec; log: string; ok: boolean; reason?: string }): void;
}

export interface WarmProcessorsOptions {
  /** A warm process with no call for this long is cleaned up and stopped. */
  idleSeconds: number;
  events?: WarmProcessorEvents;
  /** Which of these processors are deleted (checked every deletedCheckMs while any is warm). */
  deletedProcessors?: (ids: string[]) => Promise<string[]>;
  deletedCheckMs?: number;
}

interface WarmEntry {
  key: string;
  id: string;
  spec: LifecycleProcessorSpec;
  limits: ProcessorLimits;
  base: string;
  workDir: string;
  stateDir: string;
  /** Resolves with setup's answer (the process is usable when it is ok). */
  ready: Promise<WarmCallAnswer>;
  /** Calls run one at a time: each waits for the one before. */
  tail: Promise<unknown>;
  alive: boolean;
  /** Setup succeeded: the process counts as warm (and its end is reported). */
  warm: boolean;
  hasBatch: boolean;
  exitReason?: string;
  idleTimer?: NodeJS.Timeout;
  startedAt: Date;
  setupMs: number | null;
}

/** Public view of a warm process (GET /api/v2/generic-processor/{id} shows these per worker). */
export interface WarmProcessorState {
  processor_id: string;
  user: string;
  started_at: string;
  setup_ms: number | null;
}

/**
 * The warm processes of lifecycle processors on one worker: one per processor, user, file and parameters,
 * started on first use (setup runs once there), fed tasks one call at a time, cleaned up after an idle
 * timeout, when the processor is deleted or when the worker stops. A crash or a limit hit ends that process
 * only; the next call starts a fresh one.
 */
export class WarmProcessors {
  private readonly entries = new Map<string, WarmEntry>();
  private deletedTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly runtime: ProcessorRuntime,
    private readonly options: WarmProcessorsOptions,
  ) {}

  /** Warm processes now. */
  states(): WarmProcessorState[] {
    return [...this.entries.values()]
      .filter((entry) => entry.alive)
      .map((entry) => ({
        processor_id: entry.spec.processorId,
        user: entry.spec.user,
        started_at: entry.startedAt.toISOString(),
        setup_ms: entry.setupMs,
      }));
  }

  /**
   * Runs `inputs` through the processor's warm process in one call (process_batch when it has one and
   * `batch` allows), then hands each input's report to `use` while its output file still exists.
   */
  async run<T>(
    spec: LifecycleProcessorSpec,
    inputs: LifecycleInput[],
    limits: ProcessorLimits,
    signal: AbortSignal | undefined,
    use: (reports: LifecycleItemReport[]) => Promise<T>,
    options: { batch?: boolean; inspectOutput?: boolean } = {},
  ): Promise<T> {
    if (this.closed) throw new Error('the processor runtime is stopping');
    let entry = this.entries.get(keyOf(spec));
    const fresh = !entry || !entry.alive;
    if (!entry || !entry.alive) entry = this.start(spec, limits);
    const answer = await entry.ready;
    if (!answer.ok) {
      const reason = answer.reason ?? answer.message ?? 'setup failed';
      const failure = answer.fatal ? reason : `setup failed: ${reason}`;
      return use(
        inputs.map(() => ({ ...failedReport(failure, answer, answer.sandbox_error === true), log: answer.log })),
      );
    }
    // The call that started the process shows setup's output and time in its log.
    const setupMs = fresh ? answer.duration_ms : null;
    const setupLog = fresh ? answer.log : '';
    const current = entry;
    const job = current.tail.then(() => this.call(current, inputs, signal, options, use, setupMs, setupLog));
    current.tail = job.catch(() => undefined);
    return job;
  }

  /** Registers a new warm process at once (concurrent first calls share it) and starts it. */
  private start(spec: LifecycleProcessorSpec, limits: ProcessorLimits): WarmEntry {
    const base = path.join(os.tmpdir(), `geo-warm-${randomUUID()}`);
    const workDir = path.join(base, 'run');
    const stateDir = path.join(base, 'state');
    const script = path.join(workDir, spec.scriptName);
    const entry: WarmEntry = {
      key: keyOf(spec),
      id: randomUUID(),
      spec,
      limits,
      base,
      workDir,
      stateDir,
      ready: Promise.resolve({} as WarmCallAnswer),
      tail: Promise.resolve(),
      alive: true,
      warm: false,
      hasBatch: false,
      startedAt: new Date(),
      setupMs: null,
    };
    this.entries.set(entry.key, entry);
    entry.ready = this.setUp(entry, script);
    return entry;
  }

  private async setUp(entry: WarmEntry, script: string): Promise<WarmCallAnswer> {
    const { spec } = entry;
    const started = Date.now();
    const answer: WarmCallAnswer = await (async () => {
      await fsp.mkdir(path.join(entry.workDir, 'calls'), { recursive: true, mode: 0o700 });
      await spec.loadScript(script);
      return this.runtime.startWarm({
        id: entry.id,
        script,
        workDir: entry.workDir,
        stateDir: entry.stateDir,
        parameters: spec.parameters,
        limits: entry.limits,
        onExit: (reason) => this.exited(entry, reason),
      });
    })().catch((error: unknown) => ({
      ok: false,
      op: 'setup' as const,
      fatal: true,
      reason: error instanceof Error ? error.message : String(error),
      duration_ms: Date.now() - started,
      log: '',
      log_bytes: 0,
    }));
    entry.hasBatch = answer.batch === true;
    entry.warm = answer.ok && entry.alive;
    entry.setupMs = answer.ok ? answer.duration_ms : null;
    this.options.events?.setup?.({
      spec,
      ok: answer.ok,
      ms: answer.duration_ms,
      reason: answer.ok ? undefined : (answer.reason ?? answer.message),
    });
    if (!answer.ok) this.drop(entry);
    else this.watchDeleted();
    return answer;
  }

  private async call<T>(
    entry: WarmEntry,
    inputs: LifecycleInput[],
    signal: AbortSignal | undefined,
    options: { batch?: boolean; inspectOutput?: boolean },
    use: (reports: LifecycleItemReport[]) => Promise<T>,
    setupMs: number | null,
    setupLog: string,
  ): Promise<T> {
    clearTimeout(entry.idleTimer);
    const callDirs: string[] = [];
    try {
      let answer: WarmCallAnswer;
      const items: WarmCallItem[] = [];
      if (!entry.alive) {
        answer = gone(entry.exitReason ?? 'the warm processor ended');
      } else {
        for (const input of inputs) {
          const dir = path.join(entry.workDir, 'calls', randomUUID());
          callDirs.push(dir);
          await Promise.all([
            fsp.mkdir(path.join(dir, 'input'), { recursive: true }),
            fsp.mkdir(path.join(dir, 'output'), { recursive: true }),
          ]);
          const inputPath = path.join(dir, 'input', 'model-output.tif');
          await fsp.copyFile(input.inputFile, inputPath);
          items.push({
            input_path: inputPath,
            output_path: path.join(dir, 'output', 'processed.tif'),
            parameters: input.parameters,
            dir,
          });
        }
        answer = await this.runtime
          .callWarm(
            entry.id,
            entry.stateDir,
            entry.limits,
            { op: 'process', items, batch: options.batch !== false && entry.hasBatch },
            signal,
          )
          .catch((error: unknown) => gone(error instanceof Error ? error.message : String(error)));
      }
      if (answer.fatal) this.drop(entry);
      const log = setupLog + answer.log;
      const reports: LifecycleItemReport[] = [];
      for (const [index, item] of items.entries()) {
        const outcome = answer.items?.[index];
        const base = {
          log,
          duration_ms: answer.duration_ms,
          user_ms: answer.user_ms ?? null,
          setup_ms: setupMs,
          batch_size: items.length,
        };
        if (!answer.ok || !outcome) {
          reports.push({
            ...failedReport(answer.reason ?? answer.message ?? 'the call failed', answer, false),
            ...base,
          });
          continue;
        }
        if (!outcome.ok) {
          reports.push({
            ...base,
            failure: outcome.message ?? 'the processor failed',
            validation: outcome.kind === 'validation',
            sandboxError: false,
            result: null,
            outputPath: null,
          });
          continue;
        }
        const failure = await checkOutput(item.output_path, options.inspectOutput === true);
        reports.push({
          ...base,
          failure,
          validation: false,
          sandboxError: false,
          result: outcome.result ?? null,
          outputPath: failure ? null : item.output_path,
        });
      }
      if (items.length === 0)
        reports.push(
          ...inputs.map(() => ({ ...failedReport(answer.reason ?? 'the call failed', answer, false), log })),
        );
      this.options.events?.call?.({ spec: entry.spec, reports, ms: answer.duration_ms });
      return await use(reports);
    } finally {
      void Promise.all(callDirs.map((dir) => fsp.rm(dir, { recursive: true, force: true }))).catch(() => undefined);
      if (entry.alive && !this.closed) {
        entry.idleTimer = setTimeout(() => void this.stop(entry, 'idle'), this.options.idleSeconds * 1000);
        entry.idleTimer.unref();
      }
    }
  }

  /** Cleans up and ends the warm processes of a processor (it was deleted). */
  async forget(processorId: string): Promise<void> {
    await Promise.all(
      [...this.entries.values()]
        .filter((entry) => entry.spec.processorId === processorId)
        .map((entry) => this.stop(entry, 'deleted')),
    );
  }

  /** Cleans up every warm process (the worker stops); later runs are refused. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.deletedTimer);
    await Promise.all([...this.entries.values()].map((entry) => this.stop(entry, 'worker-stop')));
  }

  /** Runs cleanup() after the calls already queued, then ends the process. */
  private async stop(entry: WarmEntry, why: 'idle' | 'deleted' | 'worker-stop'): Promise<void> {
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    clearTimeout(entry.idleTimer);
    await entry.ready;
    await entry.tail;
    if (entry.alive) {
      const answer = await this.runtime
        .callWarm(entry.id, entry.stateDir, entry.limits, { op: 'stop' })
        .catch((error: unknown) => gone(error instanceof Error ? error.message : String(error)));
      this.options.events?.cleanupLog?.({
        spec: entry.spec,
        log: answer.log,
        ok: answer.ok,
        reason: answer.ok ? undefined : (answer.reason ?? answer.message),
      });
      entry.alive = false;
      if (entry.warm) {
        entry.warm = false;
        this.options.events?.exit?.({ spec: entry.spec, why, reason: answer.ok ? why : (answer.reason ?? why) });
      }
    }
    await fsp.rm(entry.base, { recursive: true, force: true }).catch(() => undefined);
  }

  /** The warm process ended on its own (crash, limit) or after a stop. */
  private exited(entry: WarmEntry, reason: string): void {
    entry.exitReason = reason;
    this.drop(entry);
    // After a stop, stop() reports the end itself.
    if (reason === 'stopped' || !entry.warm) return;
    entry.warm = false;
    this.options.events?.exit?.({ spec: entry.spec, why: 'crash', reason });
  }

  private drop(entry: WarmEntry): void {
    entry.alive = false;
    clearTimeout(entry.idleTimer);
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    void entry.tail.then(() => fsp.rm(entry.base, { recursive: true, force: true })).catch(() => undefined);
  }

  private watchDeleted(): void {
    const check = this.options.deletedProcessors;
    if (!check || this.deletedTimer) return;
    this.deletedTimer = setInterval(() => {
      const ids = [...new Set([...this.entries.values()].map((entry) => entry.spec.processorId))];
      if (ids.length === 0) return;
      void check(ids)
        .then((deleted) => Promise.all(deleted.map((id) => this.forget(id))))
        .catch(() => undefined);
    }, this.options.deletedCheckMs ?? 10_000);
    this.deletedTimer.unref();
  }
}

function keyOf(spec: LifecycleProcessorSpec): string {
  return JSON.stringify([spec.user, spec.processorId, spec.fileKey, spec.parameters]);
}

function gone(reason: string): WarmCallAnswer {
  return { ok: false, op: 'process', fatal: true, reason, duration_ms: 0, log: '', log_bytes: 0 };
}

function failedReport(failure: string, answer: WarmCallAnswer, sandboxError: boolean): LifecycleItemReport {
  return {
    failure,
    validation: false,
    sandboxError,
    result: null,
    outputPath: null,
    log: answer.log,
    duration_ms: answer.duration_ms,
    user_ms: answer.user_ms ?? null,
    setup_ms: null,
    batch_size: 1,
  };
}

/** The same checks as a script's output: written, and a GeoTIFF. */
async function checkOutput(outputPath: string, inspect: boolean): Promise<string | null> {
  const stat = await fsp.stat(outputPath).catch(() => null);
  if (!stat?.isFile())
    return `the processor's process() returned but wrote no output file at ${outputPath} (its output_path)`;
  try {
    if (inspect) await inspectGeoTiff(outputPath);
    else await checkTiffSignature(outputPath);
    return null;
  } catch (error) {
    if (!(error instanceof InvalidGeoTiffError)) throw error;
    return `the processor's output is not a readable GeoTIFF: ${error.message}`;
  }
}
