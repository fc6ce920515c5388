import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as esbuild from 'esbuild';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  type ProcessorLimits,
  ProcessorRuntime,
  processorRuntimeScript,
} from '../../src/geo/processors/processor-runtime';
import {
  type LifecycleItemReport,
  type LifecycleProcessorSpec,
  type WarmProcessorEvents,
  WarmProcessors,
} from '../../src/geo/processors/warm-processors';
import { makeSampleGeoTiff, REPO_ROOT } from '../support/python';
import { pythonBin } from '../support/services';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'processors');
const LIMITS: ProcessorLimits = {
  timeoutSeconds: 20,
  memoryMb: 300,
  maxProcesses: 16,
  maxLogBytes: 1024 * 1024,
  maxOutputBytes: 32 * 1024 * 1024,
  tmpMb: 64,
};

/**
 * Lifecycle processors on real Python in the real sandbox: one warm process per processor and user, setup
 * once, validation errors, crashes and limits that end only that process, isolation between users, cleanup.
 */
describe('lifecycle processors (warm sandboxed processes)', () => {
  let runtime: ProcessorRuntime;
  let warm: WarmProcessors;
  let dir: string;
  let input: string;
  let deleted: string[] = [];
  const cleanups: Array<{ processor: string; user: string; log: string }> = [];
  const setups: Array<{ processor: string; ok: boolean; reason?: string }> = [];
  const events: WarmProcessorEvents = {
    setup: ({ spec, ok, reason }) => setups.push({ processor: spec.processorId, ok, reason }),
    cleanupLog: ({ spec, log }) => cleanups.push({ processor: spec.processorId, user: spec.user, log }),
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-lifecycle-test-'));
    input = path.join(dir, 'input.tif');
    await makeSampleGeoTiff(input, 32, 3);
    runtime = new ProcessorRuntime({ pythonBin: pythonBin(), uidBase: 310_000 });
    warm = new WarmProcessors(runtime, {
      idleSeconds: 300,
      events,
      deletedProcessors: async (ids) => ids.filter((id) => deleted.includes(id)),
      deletedCheckMs: 200,
    });
  });

  afterAll(async () => {
    await warm?.close();
    await runtime?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function spec(file: string, overrides: Partial<LifecycleProcessorSpec> = {}): LifecycleProcessorSpec {
    return {
      processorId: overrides.processorId ?? file,
      processorName: file,
      user: 'alice',
      fileKey: `processors/${file}`,
      scriptName: file,
      parameters: {},
      loadScript: (destination) => fs.promises.copyFile(path.join(FIXTURES, file), destination),
      ...overrides,
    };
  }

  async function runOne(
    processor: LifecycleProcessorSpec,
    parameters: Record<string, unknown> = {},
    limits: Partial<ProcessorLimits> = {},
  ): Promise<LifecycleItemReport> {
    const [report] = await warm.run(
      processor,
      [{ inputFile: input, parameters }],
      { ...LIMITS, ...limits },
      undefined,
      async (r) => r,
    );
    return report!;
  }

  it('detects the style at upload: seed-000 scripts stay scripts, lifecycle files need process()', async () => {
    const check = async (file: string) => {
      const { stdout } = await promisify(execFile)(pythonBin(), [processorRuntimeScript(), 'check', file]);
      return JSON.parse(stdout) as { ok: boolean; style?: string; message?: string };
    };
    expect(await check(path.join(FIXTURES, 'seed_template.py'))).toMatchObject({ ok: true, style: 'script' });
    expect(await check(path.join(FIXTURES, 'lifecycle_counter.py'))).toMatchObject({ ok: true, style: 'lifecycle' });
    expect(await check(path.join(FIXTURES, 'lifecycle_class.py'))).toMatchObject({ ok: true, style: 'lifecycle' });
    const noProcess = path.join(dir, 'no_process.py');
    fs.writeFileSync(noProcess, 'def setup(parameters):\n    return {}\n\ndef cleanup(state):\n    pass\n');
    expect(await check(noProcess)).toMatchObject({ ok: false, message: expect.stringMatching(/must define process/) });
  });

  it('runs setup once per warm process over many tasks, one process per processor and user', async () => {
    const counter = spec('lifecycle_counter.py', { parameters: { setup_seconds: 1 } });
    const reports: LifecycleItemReport[] = [];
    for (let index = 0; index < 6; index++) reports.push(await runOne(counter));
    for (const report of reports) expect(report.failure).toBeNull();
    const results = reports.map((report) => report.result!);
    expect(new Set(results.map((result) => result.token)).size).toBe(1);
    expect(results.map((result) => result.setup_calls)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(results.map((result) => result.calls)).toEqual([1, 2, 3, 4, 5, 6]);
    // Only the first call paid the 1 s setup, and its log shows setup's output.
    expect(reports[0]!.setup_ms).toBeGreaterThanOrEqual(1000);
    expect(reports[0]!.log).toContain('setup number 1');
    expect(reports.slice(1).every((report) => report.setup_ms === null)).toBe(true);
    expect(reports[3]!.log).toContain('processed call 4');
    // Another user of the same processor gets a process of their own.
    const other = await runOne({ ...counter, user: 'bob' });
    expect(other.result!.token).not.toBe(results[0]!.token);
    expect(other.result!.calls).toBe(1);
  });

  it('feeds several tasks to process_batch in one call, each with its own outcome', async () => {
    const counter = spec('lifecycle_counter.py', { processorId: 'batcher' });
    const reports = await warm.run(
      counter,
      [
        { inputFile: input, parameters: {} },
        { inputFile: input, parameters: { min_bands: 9 } },
        { inputFile: input, parameters: {} },
      ],
      LIMITS,
      undefined,
      async (r) => r,
    );
    // process_batch raised for the batch (the second input is refused inside it): every item says why.
    expect(reports.map((report) => report.batch_size)).toEqual([3, 3, 3]);
    expect(reports[1]!.failure).toBe('the input has fewer than 9 bands');
    const good = await warm.run(
      counter,
      [
        { inputFile: input, parameters: {} },
        { inputFile: input, parameters: {} },
      ],
      LIMITS,
      undefined,
      async (r) => r,
    );
    expect(good.map((report) => report.failure)).toEqual([null, null]);
    expect(good[1]!.result!.batches).toEqual([3, 2]);
  });

  it('fails a task whose input validate() refuses, with its message, and keeps the process', async () => {
    const validator = spec('lifecycle_validate.py', { parameters: { min_bands: 7 } });
    const refused = await runOne(validator);
    expect(refused.failure).toBe('need at least 7 bands, the input has 6');
    expect(refused.validation).toBe(true);
    const accepting = spec('lifecycle_validate.py', { processorId: 'validate-2', parameters: { min_bands: 6 } });
    expect((await runOne(accepting)).failure).toBeNull();
  });

  it('a crash mid-process fails that task only; the next task gets a fresh process (setup again)', async () => {
    const counter = spec('lifecycle_counter.py', { processorId: 'crasher' });
    const first = await runOne(counter);
    // A long log comes back through the answer file instead of the event line.
    const chatty = await runOne(counter, { print_bytes: 20_000 });
    expect(chatty.failure).toBeNull();
    expect(chatty.log).toContain('y'.repeat(20_000));
    const crashed = await runOne(counter, { crash: true });
    expect(crashed.failure).toMatch(/exited with code 7/);
    expect(crashed.log).toContain('about to crash');
    const raised = await runOne(counter, { raise: true });
    expect(raised.failure).toBe('RuntimeError: process raised on purpose');
    const after = await runOne(counter);
    expect(after.failure).toBeNull();
    expect(after.result!.token).not.toBe(first.result!.token);
    expect(chatty.result!.token).toBe(first.result!.token);
    // The exception did not end the fresh process: it counts the raising call and this one.
    expect(after.result!.calls).toBe(2);
    expect(setups.filter((setup) => setup.processor === 'crasher')).toHaveLength(2);
  });

  it('a memory hog in setup fails the task with the memory limit; the limit holds over the whole life', async () => {
    const report = await runOne(spec('lifecycle_memory_hog.py'));
    expect(report.failure).toMatch(/setup failed: the processor ran out of memory \(limit 300 MB\)/);
    expect(setups.find((setup) => setup.processor === 'lifecycle_memory_hog.py')).toMatchObject({ ok: false });
  });

  it("stops a call past the wall-time limit, and a processor cannot read another user's state", async () => {
    const slow = await runOne(
      spec('lifecycle_counter.py', { processorId: 'slow', parameters: { setup_seconds: 5 } }),
      {},
      { timeoutSeconds: 1 },
    );
    expect(slow.failure).toMatch(/setup ran longer than the time limit of 1 s/);
    const owner = await runOne(spec('lifecycle_secret.py', { parameters: { secret: 'alice-secret' } }));
    expect(owner.result!.found).toEqual(expect.arrayContaining([['/tmp/secret.txt', 'alice-secret']]));
    const ownDir = owner.result!.cwd as string;
    expect(fs.readFileSync(path.join(ownDir, 'secret.txt'), 'utf8')).toBe('alice-secret');
    const peek = [path.join(ownDir, 'secret.txt'), `/proc/${owner.result!.pid as number}/environ`];
    const intruder = await runOne(spec('lifecycle_secret.py', { processorId: 'intruder', user: 'mallory' }), {
      peek,
    });
    expect(intruder.failure).toBeNull();
    const found = intruder.result!.found as Array<[string, string]>;
    expect(found.map(([, what]) => what)).not.toContain('alice-secret');
    expect(found.find(([file]) => file === '/tmp/secret.txt')![1]).toBe('FileNotFoundError');
    expect(intruder.result!.uid).not.toBe(owner.result!.uid);
  });

  it('runs the class style of the base framework (async setup, validate_frame, process_frame, cleanup)', async () => {
    const report = await runOne(spec('lifecycle_class.py', { parameters: { threshold: 1500 } }));
    expect(report.failure).toBeNull();
    expect(report.result).toMatchObject({ threshold: 1500 });
    expect(report.result!.kept_pixels).toBeGreaterThan(0);
    expect(report.log).toContain('INFO threshold processor ready (threshold 1500)');
  });

  it('cleans up a warm process after the idle timeout; the next task starts a fresh one', async () => {
    const idle: string[] = [];
    const shortLived = new WarmProcessors(runtime, {
      idleSeconds: 1,
      events: { cleanupLog: ({ log }) => idle.push(log) },
    });
    const counter = spec('lifecycle_counter.py', { processorId: 'idler', parameters: { setup_seconds: 0 } });
    const run = async () =>
      (await shortLived.run(counter, [{ inputFile: input, parameters: {} }], LIMITS, undefined, async (r) => r))[0]!;
    const first = await run();
    expect(shortLived.states()).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1800));
    expect(idle).toEqual([expect.stringMatching(/cleanup after 1 calls/)]);
    expect(shortLived.states()).toEqual([]);
    const second = await run();
    expect(second.setup_ms).not.toBeNull();
    expect(second.result!.token).not.toBe(first.result!.token);
    await shortLived.close();
  });

  it('runs cleanup when the processor is deleted and when the worker stops', async () => {
    const counter = spec('lifecycle_counter.py', { processorId: 'to-delete' });
    await runOne(counter);
    await runOne(counter);
    deleted = ['to-delete'];
    for (let waited = 0; waited < 5000 && !cleanups.some((c) => c.processor === 'to-delete'); waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cleanups.find((c) => c.processor === 'to-delete')!.log).toMatch(/cleanup after 2 calls/);
    expect(warm.states().some((state) => state.processor_id === 'to-delete')).toBe(false);
    const stays = spec('lifecycle_counter.py', { processorId: 'at-stop' });
    await runOne(stays);
    await warm.close();
    expect(cleanups.find((c) => c.processor === 'at-stop')!.log).toMatch(/cleanup after 1 calls/);
    expect(cleanups.find((c) => c.processor === 'lifecycle_class.py')!.log).toContain('cleaned up');
    expect(warm.states()).toEqual([]);
    await expect(runOne(stays)).rejects.toThrow(/stopping/);
  });

  it('leaves no processor process behind when the worker process is SIGKILLed', async () => {
    // A node process that owns a runtime with a warm lifecycle process and a one-shot script still running.
    const source = path.join(dir, 'driver.ts');
    // Inside the repository: the runtime finds python/ from where its code is.
    const bundleDir = fs.mkdtempSync(path.join(REPO_ROOT, '.data', 'lifecycle-driver-'));
    const driver = path.join(bundleDir, 'driver.js');
    fs.writeFileSync(
      source,
      `const { ProcessorRuntime } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'src', 'geo', 'processors', 'processor-runtime'))});
const { WarmProcessors } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'src', 'geo', 'processors', 'warm-processors'))});
const { withProcessorRun } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'src', 'geo', 'processors', 'run-processor'))});
const fs = require('fs');
const limits = ${JSON.stringify(LIMITS)};
const runtime = new ProcessorRuntime({ pythonBin: ${JSON.stringify(pythonBin())}, uidBase: 320000 });
const warm = new WarmProcessors(runtime, { idleSeconds: 300 });
const spec = { processorId: 'p', processorName: 'p', user: 'u', fileKey: 'k', scriptName: 'c.py', parameters: { setup_seconds: 0 },
  loadScript: (d) => fs.promises.copyFile(${JSON.stringify(path.join(FIXTURES, 'lifecycle_counter.py'))}, d) };
warm.run(spec, [{ inputFile: ${JSON.stringify(input)}, parameters: {} }], limits, undefined, async () => {
  void withProcessorRun(runtime, { scriptFile: ${JSON.stringify(path.join(FIXTURES, 'infinite_loop.py'))}, scriptName: 'loop.py', inputFile: ${JSON.stringify(input)}, parameters: {} }, limits, undefined, async () => {});
  setTimeout(() => console.log('READY'), 1500);
});
`,
    );
    // Bundled as the worker binary is (esbuild), so the child is a plain node process.
    esbuild.buildSync({ entryPoints: [source], bundle: true, platform: 'node', outfile: driver, logLevel: 'error' });
    const child = spawn(process.execPath, [driver], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (data: Buffer) => data.toString().includes('READY') && resolve());
      child.once('exit', () => reject(new Error('driver exited early')));
    });
    const descendants = descendantsOf(child.pid!);
    // The zygote, a warm supervisor with its processor, a script supervisor with its script, a spare.
    expect(descendants.length).toBeGreaterThanOrEqual(5);
    child.kill('SIGKILL');
    let alive = descendants;
    for (let waited = 0; waited < 2000 && alive.length > 0; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      alive = descendants.filter(isAlive);
    }
    expect(alive).toEqual([]);
    fs.rmSync(bundleDir, { recursive: true, force: true });
  });
});

/** Every process below `pid` (from /proc, children of children). */
function descendantsOf(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** A process that still exists and is not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
