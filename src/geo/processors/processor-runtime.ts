import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { repoPath } from '../../platform/repo-root';

/** Limits of one processor run, enforced by python/processor_runtime.py. */
export interface ProcessorLimits {
  timeoutSeconds: number;
  memoryMb: number;
  maxProcesses: number;
  /** Cap on stdout+stderr together; past it the script is stopped. */
  maxLogBytes: number;
  /** Largest file the script may write (RLIMIT_FSIZE), so also the largest output. */
  maxOutputBytes: number;
  /** Size of the private /tmp (and root) tmpfs. */
  tmpMb: number;
}

export interface ProcessorRunRequest {
  /** Absolute path of the script, inside `workDir`. */
  script: string;
  args: string[];
  /** The run's working directory: the only place it may write (bind-mounted read-write). */
  workDir: string;
  /** Private directory of the supervisor (root mount point, result.json, run.log); invisible to the script. */
  stateDir: string;
  limits: ProcessorLimits;
  signal?: AbortSignal;
}

export interface ProcessorRunOutcome {
  exit_code: number | null;
  signal: string | null;
  /** Why the run failed, in words a processor author understands; null on success. */
  reason: string | null;
  /** The last JSON object line the script printed on stdout. */
  result: Record<string, unknown> | null;
  log_bytes: number;
  /** From the request reaching the sandbox to the result. */
  duration_ms: number;
  /** Wall time of the script's own code; duration_ms minus this is the sandbox's cost. */
  script_ms?: number | null;
  /** The sandbox itself failed (not the script): worth retrying elsewhere. */
  sandbox_error?: boolean;
  /** stdout+stderr of the run, capped at limits.maxLogBytes. */
  log: string;
}

export class ProcessorRuntimeError extends Error {}

/** One task's outcome inside a call to a warm lifecycle processor. */
export interface WarmItemOutcome {
  ok: boolean;
  result?: Record<string, unknown> | null;
  /** 'validation': validate() (or process()) raised ValidationError; 'error': any other exception. */
  kind?: 'validation' | 'error';
  message?: string;
}

/** The answer to a call to a warm process (python/processor_runtime.py supervise_warm). */
export interface WarmCallAnswer {
  /** The processor answered; false when the call failed as a whole (setup raised, crash, limit). */
  ok: boolean;
  op: 'setup' | 'process' | 'cleanup';
  items?: WarmItemOutcome[];
  /** Wall time of the processor's own code in this call. */
  user_ms?: number;
  duration_ms: number;
  /** What the processor printed during the call (stdout+stderr). */
  log: string;
  /** Log bytes of the warm process's whole life so far (the log limit counts these). */
  log_bytes: number;
  /** The warm process ended with this call (crash, limit, setup failure): the next call needs a fresh one. */
  fatal?: boolean;
  reason?: string;
  message?: string;
  kind?: string;
  sandbox_error?: boolean;
  /** Setup only: the processor has process_batch. */
  batch?: boolean;
}

export interface WarmStartRequest {
  id: string;
  /** The processor file, inside workDir. */
  script: string;
  /** The warm process's own directory (bind-mounted read-write; each call adds a directory under it). */
  workDir: string;
  /** The supervisor's files (call answers); invisible to the processor. */
  stateDir: string;
  parameters: Record<string, unknown>;
  limits: ProcessorLimits;
  /** Called once when the warm process has ended, with why ('stopped' after a clean stop). */
  onExit: (reason: string) => void;
}

export interface WarmCallItem {
  input_path: string;
  output_path: string;
  parameters: Record<string, unknown>;
  /** The call's directory (handed to the processor's user). */
  dir: string;
}

interface RuntimeReady {
  event: 'ready';
  pid: number;
  sandbox: { available: boolean; detail: string; root: boolean };
  preimported: string[];
  startup_ms: number;
}

export function processorRuntimeScript(): string {
  const script = repoPath('python', 'processor_runtime.py');
  if (!fs.existsSync(script)) throw new ProcessorRuntimeError(`${script} not found`);
  return script;
}

// The zygote must stay single-threaded to fork safely: no BLAS/OpenMP thread pools.
const SINGLE_THREAD_ENV = {
  OPENBLAS_NUM_THREADS: '1',
  OMP_NUM_THREADS: '1',
  MKL_NUM_THREADS: '1',
  NUMEXPR_NUM_THREADS: '1',
};
// Only these reach user scripts: the worker's own environment holds database and storage credentials.
const PASSED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'GDAL_DATA', 'PROJ_LIB', 'PROJ_DATA'];

/**
 * One warm Python interpreter per worker process (python/processor_runtime.py serve) that forks a sandboxed
 * child per processor run. Started on first use, restarted if it dies; runs may overlap.
 */
export class ProcessorRuntime {
  private child?: ChildProcessByStdio<Writable, Readable, Readable>;
  private starting?: Promise<RuntimeReady>;
  private readonly pending = new Map<
    string,
    { resolve: (answer?: WarmCallAnswer) => void; reject: (error: Error) => void }
  >();
  private readonly warmExits = new Map<string, (reason: string) => void>();
  private stderrTail = '';
  private closed = false;
  ready?: RuntimeReady;

  constructor(
    private readonly options: {
      pythonBin: string;
      uidBase: number;
      preimport?: string;
      onLog?: (line: string) => void;
    },
  ) {}

  async start(): Promise<RuntimeReady> {
    if (this.closed) throw new ProcessorRuntimeError('the processor runtime was closed');
    this.starting ??= this.spawnZygote();
    try {
      return await this.starting;
    } catch (error) {
      this.starting = undefined;
      throw error;
    }
  }

  private spawnZygote(): Promise<RuntimeReady> {
    const env: NodeJS.ProcessEnv = { ...SINGLE_THREAD_ENV, PYTHONDONTWRITEBYTECODE: '1', HOME: '/nonexistent' };
    for (const name of PASSED_ENV) if (process.env[name]) env[name] = process.env[name];
    env.PROCESSOR_UID_BASE = String(this.options.uidBase);
    // The interpreter checks it is still this process's child once it has asked to die with it.
    env.PROCESSOR_PARENT_PID = String(process.pid);
    if (this.options.preimport) env.PROCESSOR_PREIMPORT = this.options.preimport;
    const child = spawn(this.options.pythonBin, [processorRuntimeScript(), 'serve'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env,
    });
    this.child = child;
    return new Promise<RuntimeReady>((resolve, reject) => {
      let isReady = false;
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => {
        this.stderrTail = (this.stderrTail + text).slice(-4000);
        for (const line of text.split('\n')) if (line.trim()) this.options.onLog?.(line);
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        let message: {
          event?: string;
          id?: string;
          message?: string;
          error?: string;
          reason?: string;
          answer?: WarmCallAnswer;
        };
        try {
          message = JSON.parse(line) as typeof message;
        } catch {
          this.options.onLog?.(`processor runtime: ${line}`);
          return;
        }
        if (message.event === 'ready') {
          isReady = true;
          this.ready = message as RuntimeReady;
          resolve(this.ready);
        } else if (message.event === 'done' && message.id) {
          if (message.error) this.pending.get(message.id)?.reject(new ProcessorRuntimeError(message.error));
          else this.pending.get(message.id)?.resolve(message.answer);
        } else if (message.event === 'warm-exit' && message.id) {
          const onExit = this.warmExits.get(message.id);
          this.warmExits.delete(message.id);
          onExit?.(message.reason ?? 'ended');
        } else if (message.event === 'error') {
          this.options.onLog?.(`processor runtime error: ${message.message ?? line}`);
        }
      });
      child.stdin.on('error', () => undefined);
      child.on('error', (error) => {
        if (!isReady) reject(new ProcessorRuntimeError(`cannot start ${this.options.pythonBin}: ${error.message}`));
      });
      child.on('exit', (code, signal) => {
        const why = new ProcessorRuntimeError(
          `the processor runtime exited (${signal ?? `code ${code}`})${this.stderrTail ? `: ${this.stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''}`,
        );
        if (!isReady) reject(why);
        for (const entry of this.pending.values()) entry.reject(why);
        this.pending.clear();
        // Warm processes die with the interpreter that forked them.
        for (const onExit of this.warmExits.values()) onExit(why.message);
        this.warmExits.clear();
        if (this.child === child) {
          this.child = undefined;
          this.starting = undefined;
          this.ready = undefined;
        }
      });
    });
  }

  /** Runs a script in the sandbox; resolves with how it ended (a failing script is an outcome, not an error). */
  async run(request: ProcessorRunRequest): Promise<ProcessorRunOutcome> {
    await this.start();
    const child = this.child;
    if (!child) throw new ProcessorRuntimeError('the processor runtime is not running');
    const id = randomUUID();
    await fsp.mkdir(request.stateDir, { recursive: true });
    const limits = request.limits;
    const message = {
      op: 'run',
      id,
      script: request.script,
      args: request.args,
      cwd: request.workDir,
      bind_rw: [request.workDir],
      state_dir: request.stateDir,
      limits: {
        timeout_s: limits.timeoutSeconds,
        memory_mb: limits.memoryMb,
        max_processes: limits.maxProcesses,
        max_log_bytes: limits.maxLogBytes,
        max_file_bytes: limits.maxOutputBytes,
        tmp_mb: limits.tmpMb,
      },
    };
    const done = new Promise<void>((resolve, reject) => this.pending.set(id, { resolve: () => resolve(), reject }));
    const cancel = () => child.stdin.write(`${JSON.stringify({ op: 'cancel', id })}\n`);
    request.signal?.addEventListener('abort', cancel, { once: true });
    // The supervisor enforces the time limit itself; this only catches a supervisor that never answers.
    const watchdog = setTimeout(
      () => {
        cancel();
        this.pending
          .get(id)
          ?.reject(
            new ProcessorRuntimeError(
              `no result from the processor runtime ${limits.timeoutSeconds + 60} s after the start`,
            ),
          );
      },
      (limits.timeoutSeconds + 60) * 1000,
    );
    try {
      child.stdin.write(`${JSON.stringify(message)}\n`);
      // A stop that came while the runtime was starting fired no listener: cancel the run now.
      if (request.signal?.aborted) cancel();
      await done;
    } finally {
      clearTimeout(watchdog);
      request.signal?.removeEventListener('abort', cancel);
      this.pending.delete(id);
    }
    const outcome = JSON.parse(await fsp.readFile(path.join(request.stateDir, 'result.json'), 'utf8')) as Omit<
      ProcessorRunOutcome,
      'log'
    >;
    const log = await fsp.readFile(path.join(request.stateDir, 'run.log'), 'utf8').catch(() => '');
    return { ...outcome, log };
  }

  /**
   * Starts a warm process for a lifecycle processor (python/processor_runtime.py supervise_warm) and runs its
   * setup; resolves with setup's answer. A failed setup (ok false) leaves no process behind.
   */
  async startWarm(request: WarmStartRequest): Promise<WarmCallAnswer> {
    await this.start();
    const child = this.child;
    if (!child) throw new ProcessorRuntimeError('the processor runtime is not running');
    await fsp.mkdir(request.stateDir, { recursive: true });
    const call = randomUUID();
    this.warmExits.set(request.id, request.onExit);
    const limits = request.limits;
    const message = {
      op: 'warm',
      mode: 'lifecycle',
      id: request.id,
      call,
      script: request.script,
      args: [],
      cwd: request.workDir,
      bind_rw: [request.workDir],
      state_dir: request.stateDir,
      parameters: request.parameters,
      limits: {
        timeout_s: limits.timeoutSeconds,
        memory_mb: limits.memoryMb,
        max_processes: limits.maxProcesses,
        max_log_bytes: limits.maxLogBytes,
        max_file_bytes: limits.maxOutputBytes,
        tmp_mb: limits.tmpMb,
      },
    };
    return this.awaitCall(child, call, request.stateDir, limits, message);
  }

  /** Sends one call (process several items, or stop = cleanup) to a warm process and waits for its answer. */
  async callWarm(
    warmId: string,
    stateDir: string,
    limits: ProcessorLimits,
    body: { op: 'process'; items: WarmCallItem[]; batch: boolean } | { op: 'stop' },
    signal?: AbortSignal,
  ): Promise<WarmCallAnswer> {
    const child = this.child;
    if (!child) throw new ProcessorRuntimeError('the processor runtime is not running');
    const call = randomUUID();
    return this.awaitCall(child, call, stateDir, limits, { ...body, warm: warmId, call }, signal, warmId);
  }

  private async awaitCall(
    child: ChildProcessByStdio<Writable, Readable, Readable>,
    call: string,
    stateDir: string,
    limits: ProcessorLimits,
    message: object,
    signal?: AbortSignal,
    warmId?: string,
  ): Promise<WarmCallAnswer> {
    const done = new Promise<WarmCallAnswer | undefined>((resolve, reject) =>
      this.pending.set(call, { resolve, reject }),
    );
    const cancel = () => child.stdin.write(`${JSON.stringify({ op: 'cancel', warm: warmId, id: call })}\n`);
    let inline: WarmCallAnswer | undefined;
    if (warmId) signal?.addEventListener('abort', cancel, { once: true });
    // The supervisor enforces the time limit per call; this only catches one that never answers.
    const watchdog = setTimeout(
      () =>
        this.pending
          .get(call)
          ?.reject(
            new ProcessorRuntimeError(
              `no answer from the warm processor ${limits.timeoutSeconds + 60} s after the call`,
            ),
          ),
      (limits.timeoutSeconds + 60) * 1000,
    );
    try {
      child.stdin.write(`${JSON.stringify(message)}\n`);
      if (warmId && signal?.aborted) cancel();
      inline = await done;
    } finally {
      clearTimeout(watchdog);
      signal?.removeEventListener('abort', cancel);
      this.pending.delete(call);
    }
    if (inline) return inline;
    const file = path.join(stateDir, `call-${call}.json`);
    const answer = JSON.parse(await fsp.readFile(file, 'utf8')) as WarmCallAnswer;
    await fsp.rm(file, { force: true });
    return answer;
  }

  /** Stops the interpreter (and with it any run still going). */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
