/**
 * Model threads: the worker_threads that run OnnxSegmenter's per-raster compute (preprocessing,
 * session.run, argmax, output nodata).
 *
 * onnxruntime-node runs a model synchronously on the calling JS thread, so a run on the main thread stalls
 * every other activity, heartbeat and HTTP request of the process for its whole duration. Here the main
 * thread only copies the picked bands, posts them to a thread and gets the mask back (transferred).
 *
 * - MODEL_CONCURRENCY threads per pool (0: one per core), started as work needs them (the pipeline workers of a
 *   process share one pool); each owns its onnxruntime sessions (model-thread-worker.ts).
 * - A thread is given a request while it holds fewer than two runs' worth of tiles, so it can fill every
 *   run with tiles of several pending requests of the same model (cross-call batching) while the rest of
 *   the requests wait here, in order, without their bands being copied yet.
 * - A thread that dies (uncaught error, out of memory) rejects its requests with a plain (retryable) Error;
 *   the next request gets a fresh thread. Idle threads do not keep the process alive.
 */
import { AsyncResource } from 'node:async_hooks';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import type { ModelInputDataSpec } from '../../../workflows/contract/model-spec';
import type { RasterTypedArray } from '../raster/raster';

// ---------------------------------------------------------------------------------------------
// Messages between the main thread and a model thread
// ---------------------------------------------------------------------------------------------

/** One raster to segment, as a model thread receives it. */
export interface SegmentJob {
  modelPath: string;
  sessionOptions: InferenceSession.SessionOptions;
  spec: ModelInputDataSpec;
  /** Tiles per run (the model's own batch size when `fixedBatch`). */
  batchSize: number;
  /** The model's batch dimension is fixed: every run is padded to `batchSize`. */
  fixedBatch: boolean;
  width: number;
  height: number;
  /** Indexed by 0-based source band; only the bands the spec picks are present (copies owned by the thread). */
  bands: Array<RasterTypedArray | null>;
  bandCount: number;
  /** spec.nodata, else the file's. */
  nodata: number | null;
  /** Time series models: the image input's name and one tile's shape without the batch axis (default [C, H, W]). */
  inputName?: string;
  tileShape?: number[];
  /** The model's per-frame date input: its name, one stack's values (flattened) and their shape without batch. */
  dates?: { name: string; values: number[]; shape: number[] };
  /** Channels of the model output: classes for segmentation, the regression channels otherwise. */
  outputChannels: number;
  /**
   * A scene window (scene-windows.ts) with blended tiles: the raw class sums of its first `top` and last `bottom`
   * rows come back in `edges`, since tiles of the neighbouring windows cover those rows too.
   */
  edgeRows?: { top: number; bottom: number };
}

/** Raw per-class sums of a window's edge rows (rows x width x classes, pixel-major) and their nodata pixels. */
export interface WindowEdges {
  top: Float64Array;
  bottom: Float64Array;
  /** 1 where every picked band is nodata (rows x width), or null when the input has no nodata. */
  topNodata?: Uint8Array | null;
  bottomNodata?: Uint8Array | null;
}

export interface TensorInfo {
  name: string;
  isTensor: boolean;
  type: string;
  shape: Array<number | string>;
}

export interface ModelSignatureInfo {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** The execution provider the thread's session runs on (`cuda`, `cpu`). */
  executionProvider: string;
  /** Why the providers listed before it were not used (their load errors), when any were passed over. */
  providerFallback?: string;
}

/** A segmented raster: one class value per pixel, and the execution provider that computed it. */
export interface SegmentOutcome {
  /** Class values (segmentation); empty for regression. */
  mask: Uint8Array;
  executionProvider: string;
  /** Regression values or class probabilities (0-1): `channels` planes of width x height, band-sequential. */
  values?: Float32Array;
  channels?: number;
  /** With `edgeRows`: the edge rows' class sums. */
  edges?: WindowEdges;
}

export interface ModelThreadPoolOptions {
  /**
   * Told once per pool and distinct reason when a session falls back to a later execution provider (CUDA could
   * not be loaded): the worker logs it as a warning.
   */
  onProviderFallback?: (message: string) => void;
}

export interface SerializedError {
  name: string;
  message: string;
}

export type ToModelThread =
  | { type: 'describe'; id: number; modelPath: string; sessionOptions: InferenceSession.SessionOptions }
  /** Several requests in one message: a thread reads them together, so they can share its next run. */
  | { type: 'segment'; requests: Array<{ id: number; job: SegmentJob }> }
  | { type: 'cancel'; id: number }
  | { type: 'crash'; reason: string };

export type FromModelThread =
  | { type: 'described'; id: number; signature: ModelSignatureInfo }
  | { type: 'progress'; id: number; done: number; total: number }
  | {
      type: 'segmented';
      id: number;
      mask: Uint8Array;
      provider: string;
      values?: Float32Array;
      channels?: number;
      edges?: WindowEdges;
    }
  | { type: 'failed'; id: number; error: SerializedError }
  /** One session.run: how many tiles it computed (padding excluded) and from how many requests. */
  | { type: 'ran'; tiles: number; requests: number };

// ---------------------------------------------------------------------------------------------
// Main-thread side
// ---------------------------------------------------------------------------------------------

/** Waiting requests repeat their last progress this often, so activity heartbeats keep flowing. */
const QUIET_PROGRESS_MS = 2000;

/** What a model thread loads: the compiled worker module, or the TypeScript source under ts-jest. */
const WORKER_MODULE = path.join(__dirname, `model-thread-worker${path.extname(__filename)}`);

/**
 * Worker bootstrap, evaluated as plain JavaScript so it needs no file of its own in dist/. From sources
 * (ts-jest) it compiles .ts modules with TypeScript's transpileModule (type-only imports vanish; the
 * worker's dependencies are plain modules), from dist/ it just requires the compiled module.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
const entry = workerData.entry;
if (entry.endsWith('.ts')) {
  const fs = require('node:fs');
  const ts = require('node:module').createRequire(entry)('typescript');
  const compilerOptions = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, inlineSourceMap: true };
  require.extensions['.ts'] = (module, filename) => {
    const output = ts.transpileModule(fs.readFileSync(filename, 'utf8'), { compilerOptions, fileName: filename });
    module._compile(output.outputText, filename);
  };
}
require(entry);
`;

export interface ModelThreadStats {
  /** Threads started since the pool was created (a replaced dead thread counts again). */
  threadsStarted: number;
  /** Threads that stopped without being asked to. */
  threadsLost: number;
  /** Threads in service now (not counting ones being stopped). */
  threadsAlive: number;
  /** session.run calls. */
  runs: number;
  /** Tiles computed (padding of fixed-batch models excluded). */
  tiles: number;
  /** Runs whose tiles came from more than one segment() call. */
  sharedRuns: number;
}

/** A job and the buffers to hand over with it (transferred, not copied, by postMessage). */
export interface PreparedJob {
  job: SegmentJob;
  transfer: ArrayBuffer[];
}

interface SegmentCall {
  kind: 'segment';
  id: number;
  /** Called when the call is given to a thread: the band copies exist only from then on. */
  prepareJob: () => PreparedJob;
  /** Requests with the same key may share runs; threads already holding one are preferred. */
  batchKey: string;
  batchSize: number;
  total: number;
  done: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
  quietTimer?: NodeJS.Timeout;
  settled: boolean;
  resolve: (outcome: SegmentOutcome) => void;
  reject: (error: unknown) => void;
}

interface DescribeCall {
  kind: 'describe';
  id: number;
  resolve: (signature: ModelSignatureInfo) => void;
  reject: (error: unknown) => void;
}

type PendingCall = SegmentCall | DescribeCall;

interface ModelThread {
  worker: Worker;
  calls: Map<number, PendingCall>;
  /** Tiles of the segment calls given to this thread and not yet computed. */
  outstandingTiles: number;
  /** Stopped on purpose (shutdown, fewer threads wanted): its exit is not a failure. */
  retiring: boolean;
  /** Whatever the thread reported before it stopped (uncaught error, out of memory). */
  failure?: Error;
}

export interface SegmentRequestOptions {
  batchKey: string;
  batchSize: number;
  /** Tiles of this raster. */
  total: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

function restoreError(error: SerializedError): Error {
  const restored = new Error(error.message);
  restored.name = error.name;
  return restored;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('segmentation aborted');
}

/**
 * A set of model threads, created and closed by its owner (the pipeline worker, or a test or benchmark). Its
 * size is MODEL_CONCURRENCY; every segmenter loaded on it shares its threads, so their runs can be batched.
 */
export class ModelThreadPool {
  private size = 1;
  private readonly threads: ModelThread[] = [];
  /** Segment calls not yet given to a thread, oldest first. */
  private readonly waiting: SegmentCall[] = [];
  private nextId = 1;
  private dispatchQueued = false;
  private readonly counters = { threadsStarted: 0, threadsLost: 0, runs: 0, tiles: 0, sharedRuns: 0 };
  private readonly fallbacksTold = new Set<string>();

  constructor(
    size = 1,
    private readonly options: ModelThreadPoolOptions = {},
  ) {
    this.resize(size);
  }

  /** Threads to keep at most (0: one per core); surplus idle threads stop now, busy ones when their work is done. */
  resize(size: number): void {
    const wanted = size > 0 ? Math.max(1, Math.floor(size)) : os.availableParallelism();
    if (wanted === this.size) return;
    this.size = wanted;
    for (const thread of this.threads) this.retireIfSurplus(thread);
    this.dispatch();
  }

  /** Threads this pool may run at once. */
  get maxThreads(): number {
    return this.size;
  }

  /** Segment calls given to threads or waiting for one (diagnostics and tests). */
  segmentCallsInFlight(): number {
    let calls = this.waiting.length;
    for (const thread of this.threads)
      for (const call of thread.calls.values()) if (call.kind === 'segment') calls += 1;
    return calls;
  }

  /** Counters for tests and diagnostics. */
  stats(): ModelThreadStats {
    return { ...this.counters, threadsAlive: this.liveThreads() };
  }

  /** Loads the model in a thread (its session is cached there) and returns its inputs and outputs. */
  describe(modelPath: string, sessionOptions: InferenceSession.SessionOptions): Promise<ModelSignatureInfo> {
    return new Promise((resolve, reject) => {
      const call: DescribeCall = {
        kind: 'describe',
        id: this.nextId++,
        resolve: (signature) => {
          this.tellFallback(signature);
          resolve(signature);
        },
        reject,
      };
      const thread =
        this.threads.find((t) => !t.retiring && t.calls.size === 0) ??
        (this.liveThreads() < this.size ? this.spawn() : this.leastBusy(this.activeThreads()));
      this.track(thread, call);
      this.post(thread, { type: 'describe', id: call.id, modelPath, sessionOptions });
    });
  }

  /** Segments one raster in a model thread; `prepareJob` is called once a thread takes the call. */
  segment(prepareJob: () => PreparedJob, options: SegmentRequestOptions): Promise<SegmentOutcome> {
    return new Promise<SegmentOutcome>((resolve, reject) => {
      const { signal } = options;
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      // Progress arrives from the thread's message events, which run in the async context of whoever spawned the
      // thread: bound here, it reaches the caller's context (its activity's heartbeat), not the first caller's.
      const onProgress = options.onProgress && AsyncResource.bind(options.onProgress);
      const call: SegmentCall = {
        kind: 'segment',
        id: this.nextId++,
        prepareJob,
        done: 0,
        settled: false,
        resolve,
        reject,
        ...options,
        onProgress,
      };
      if (signal) {
        call.onAbort = () => this.abandon(call, abortReason(signal));
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      call.quietTimer = setTimeout(() => this.report(call), QUIET_PROGRESS_MS).unref();
      this.report(call);
      if (call.settled) return; // onProgress threw
      this.waiting.push(call);
      this.dispatchSoon();
    });
  }

  /**
   * Stops idle threads now and busy ones once their work is done (an activity past its grace time may still
   * be finishing a call); later requests start fresh threads. Resolves when the idle ones have stopped.
   */
  async close(): Promise<void> {
    const idle = this.threads.filter((thread) => thread.calls.size === 0);
    for (const thread of this.threads) thread.retiring = true;
    await Promise.all(idle.map((thread) => thread.worker.terminate()));
  }

  /** Makes every thread throw an uncaught error, as a crash would. For tests. */
  crashThreadsForTesting(reason = 'model thread crash requested by a test'): void {
    for (const thread of this.threads) this.post(thread, { type: 'crash', reason });
  }

  /** One warning per distinct fallback (each model thread finds out for itself; the log says it once). */
  private tellFallback(signature: ModelSignatureInfo): void {
    if (!signature.providerFallback) return;
    const message = `execution provider fallback: running on ${signature.executionProvider} (${signature.providerFallback})`;
    if (this.fallbacksTold.has(message)) return;
    this.fallbacksTold.add(message);
    this.options.onProviderFallback?.(message);
  }

  private liveThreads(): number {
    return this.threads.filter((thread) => !thread.retiring).length;
  }

  private activeThreads(): ModelThread[] {
    return this.threads.filter((thread) => !thread.retiring);
  }

  private leastBusy(threads: ModelThread[]): ModelThread {
    return threads.reduce((best, thread) => (thread.outstandingTiles < best.outstandingTiles ? thread : best));
  }

  /**
   * A thread for `call`, or none while every thread holds two runs' worth of tiles: an idle thread first,
   * else a new one while below MODEL_CONCURRENCY (parallel runs), else one that holds the same model (its
   * next run can batch them), else the least busy.
   */
  private threadFor(call: SegmentCall): ModelThread | undefined {
    const active = this.activeThreads();
    const idle = active.find((thread) => thread.calls.size === 0);
    if (idle) return idle;
    if (active.length < this.size) return this.spawn();
    const open = active.filter((thread) => thread.outstandingTiles < 2 * call.batchSize);
    if (open.length === 0) return undefined;
    const sameModel = open.filter((thread) =>
      [...thread.calls.values()].some((other) => other.kind === 'segment' && other.batchKey === call.batchKey),
    );
    return this.leastBusy(sameModel.length > 0 ? sameModel : open);
  }

  /** Dispatches once the current synchronous code is done: calls made together travel in one message. */
  private dispatchSoon(): void {
    if (this.dispatchQueued) return;
    this.dispatchQueued = true;
    queueMicrotask(() => {
      this.dispatchQueued = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    const outgoing = new Map<
      ModelThread,
      { requests: Array<{ id: number; job: SegmentJob }>; transfer: ArrayBuffer[] }
    >();
    while (this.waiting.length > 0) {
      const call = this.waiting[0]!;
      const thread = this.threadFor(call);
      if (!thread) break;
      this.waiting.shift();
      let prepared: PreparedJob;
      try {
        prepared = call.prepareJob();
      } catch (error) {
        this.settle(call);
        call.reject(error);
        continue;
      }
      this.track(thread, call);
      thread.outstandingTiles += call.total;
      const message = outgoing.get(thread) ?? { requests: [], transfer: [] };
      message.requests.push({ id: call.id, job: prepared.job });
      message.transfer.push(...prepared.transfer);
      outgoing.set(thread, message);
    }
    for (const [thread, { requests, transfer }] of outgoing) this.post(thread, { type: 'segment', requests }, transfer);
  }

  private spawn(): ModelThread {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { entry: WORKER_MODULE } });
    const thread: ModelThread = { worker, calls: new Map(), outstandingTiles: 0, retiring: false };
    this.threads.push(thread);
    this.counters.threadsStarted += 1;
    worker.on('message', (message: FromModelThread) => this.onMessage(thread, message));
    worker.on('error', (error) => (thread.failure ??= error));
    worker.on('messageerror', (error) => (thread.failure ??= error));
    worker.on('exit', (code) => this.onExit(thread, code));
    worker.unref();
    return thread;
  }

  private post(thread: ModelThread, message: ToModelThread, transfer: ArrayBuffer[] = []): void {
    thread.worker.postMessage(message, transfer);
  }

  private track(thread: ModelThread, call: PendingCall): void {
    thread.calls.set(call.id, call);
    // Pending work keeps the process alive until it is answered; an idle thread does not.
    if (thread.calls.size === 1) thread.worker.ref();
  }

  private untrack(thread: ModelThread, call: PendingCall): void {
    if (!thread.calls.delete(call.id)) return;
    if (call.kind === 'segment') thread.outstandingTiles -= call.total - call.done;
    if (thread.calls.size === 0) {
      thread.worker.unref();
      if (thread.retiring) void thread.worker.terminate();
      else this.retireIfSurplus(thread);
    }
  }

  private retireIfSurplus(thread: ModelThread): void {
    if (thread.retiring || thread.calls.size > 0 || this.liveThreads() <= this.size) return;
    thread.retiring = true;
    void thread.worker.terminate();
  }

  private threadOf(call: PendingCall): ModelThread | undefined {
    return this.threads.find((thread) => thread.calls.get(call.id) === call);
  }

  /** Passes progress on; an onProgress that throws ends the call with that error. */
  private report(call: SegmentCall): void {
    if (call.settled) return;
    call.quietTimer?.refresh();
    try {
      call.onProgress?.(call.done, call.total);
    } catch (error) {
      this.abandon(call, error);
    }
  }

  /** Ends a call here (abort, failing onProgress); its thread drops the remaining tiles. */
  private abandon(call: SegmentCall, reason: unknown): void {
    if (call.settled) return;
    const queued = this.waiting.indexOf(call);
    if (queued >= 0) this.waiting.splice(queued, 1);
    const thread = this.threadOf(call);
    if (thread) {
      this.post(thread, { type: 'cancel', id: call.id });
      this.untrack(thread, call);
    }
    this.settle(call);
    call.reject(reason);
    this.dispatch();
  }

  private settle(call: PendingCall): void {
    if (call.kind !== 'segment') return;
    call.settled = true;
    clearTimeout(call.quietTimer);
    call.quietTimer = undefined;
    if (call.onAbort) call.signal?.removeEventListener('abort', call.onAbort);
  }

  private onMessage(thread: ModelThread, message: FromModelThread): void {
    if (message.type === 'ran') {
      this.counters.runs += 1;
      this.counters.tiles += message.tiles;
      if (message.requests > 1) this.counters.sharedRuns += 1;
      return;
    }
    const call = thread.calls.get(message.id);
    if (!call) return; // abandoned meanwhile
    switch (message.type) {
      case 'described':
        if (call.kind !== 'describe') return;
        this.untrack(thread, call);
        call.resolve(message.signature);
        break;
      case 'progress':
        if (call.kind !== 'segment') return;
        thread.outstandingTiles -= message.done - call.done;
        call.done = message.done;
        this.report(call);
        this.dispatch();
        break;
      case 'segmented':
        if (call.kind !== 'segment') return;
        this.untrack(thread, call);
        this.settle(call);
        call.resolve({
          mask: message.mask,
          executionProvider: message.provider,
          ...(message.values ? { values: message.values, channels: message.channels ?? 1 } : {}),
          ...(message.edges ? { edges: message.edges } : {}),
        });
        this.dispatch();
        break;
      case 'failed':
        this.untrack(thread, call);
        this.settle(call);
        call.reject(restoreError(message.error));
        if (call.kind === 'segment') this.dispatch();
        break;
    }
  }

  private onExit(thread: ModelThread, code: number): void {
    const index = this.threads.indexOf(thread);
    if (index >= 0) this.threads.splice(index, 1);
    if (!thread.retiring) this.counters.threadsLost += 1;
    const cause = thread.failure ? `: ${thread.failure.message}` : ` with exit code ${code}`;
    for (const call of thread.calls.values()) {
      this.settle(call);
      // A plain Error: Temporal retries the activity, which gets a fresh thread.
      call.reject(
        new Error(`the model thread stopped${cause}; the segmentation did not finish and can be retried`, {
          cause: thread.failure,
        }),
      );
    }
    thread.calls.clear();
    this.dispatch();
  }
}
