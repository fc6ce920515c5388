import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import {
  type ProcessorLimits,
  ProcessorRuntime,
  processorRuntimeScript,
} from '../../src/geo/processors/processor-runtime';
import { type ProcessorRunReport, withProcessorRun } from '../../src/geo/processors/run-processor';
import { makeSampleGeoTiff } from '../support/python';
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
 * The processor sandbox with real Python and real scripts: each misbehaving script ends as a failure with a
 * reason a user understands, and the same runtime goes on serving other runs.
 */
describe('generic processor sandbox', () => {
  let runtime: ProcessorRuntime;
  let workDir: string;
  let input: string;

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-sandbox-test-'));
    input = path.join(workDir, 'input.tif');
    await makeSampleGeoTiff(input, 64, 3);
    process.env.SANDBOX_TEST_SECRET = 'must-not-leak';
    runtime = new ProcessorRuntime({ pythonBin: pythonBin(), uidBase: 300_000 });
    const ready = await runtime.start();
    expect(ready.sandbox).toMatchObject({ available: true });
  });

  afterAll(async () => {
    await runtime?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  async function runFixture(
    script: string,
    parameters: Record<string, unknown> = {},
    limits: Partial<ProcessorLimits> = {},
    signal?: AbortSignal,
    check?: (report: ProcessorRunReport) => Promise<void>,
  ): Promise<ProcessorRunReport> {
    return withProcessorRun(
      runtime,
      { scriptFile: path.join(FIXTURES, script), scriptName: script, inputFile: input, parameters },
      { ...LIMITS, ...limits },
      signal,
      async (report) => {
        await check?.(report);
        return report;
      },
    );
  }

  it('runs the contract template unchanged: argv, parameters, exit code, last JSON line, log, output', async () => {
    let written: string | undefined;
    const report = await runFixture(
      'seed_template.py',
      { threshold: 1500, method: 'threshold' },
      {},
      undefined,
      async (done) => {
        written = path.join(workDir, 'template-output.tif');
        if (done.outputPath) fs.copyFileSync(done.outputPath, written);
      },
    );
    expect(report.failure).toBeNull();
    expect(report.exit_code).toBe(0);
    expect(report.result).toMatchObject({
      status: 'success',
      message: 'Processing completed with threshold 1500',
      input_shape: [6, 64, 64],
    });
    expect(report.log).toContain('Applying threshold processing with threshold 1500');
    // The output is what the script computed: values above the threshold kept, the rest zeroed.
    const stdout = await runPythonInline(
      `import rasterio, numpy as np, sys\na = rasterio.open(sys.argv[1]).read(); b = rasterio.open(sys.argv[2]).read()\nprint(int((np.where(a > 1500, a, 0) == b).all()), b.shape)`,
      [input, written!],
    );
    expect(stdout.trim()).toBe('1 (6, 64, 64)');
  });

  it("fails the contract template's own error path (exit 1) with the message it printed", async () => {
    const report = await runFixture('seed_template.py', { threshold: 'high', method: 'threshold' });
    expect(report.exit_code).toBe(1);
    expect(report.result).toMatchObject({ status: 'error', input_path: report.argv[1] });
    expect(report.failure).toBe(`the processor exited with code 1: ${report.result!.message as string}`);
    expect(report.failure).toMatch(/greater|not supported|'>'/);
    expect(report.log).toContain('Processing failed');
  });

  it('gives each run a fresh interpreter, its own user, pid 1, no secrets in the environment and only its own files', async () => {
    const hidden = {
      paths: [path.join(process.cwd(), 'package.json'), input, path.join(os.homedir(), '.cache'), '/var/lib'],
    };
    const first = await runFixture('introspect.py', hidden);
    const second = await runFixture('introspect.py', hidden);
    for (const report of [first, second]) {
      expect(report.failure).toBeNull();
      expect(report.result).toMatchObject({ name: '__main__', pid: 1, marked_before: false });
      expect(report.result!.env).not.toContain('SANDBOX_TEST_SECRET');
      expect(report.result!.env).not.toContain('DATABASE_URL');
      expect(report.result!.uid).toBeGreaterThanOrEqual(300_000);
      // The machine's other files (the repository, the original input, home directories, /var) are not there at all.
      expect(report.result!.visible).toEqual([false, false, false, false]);
      expect(report.result!.root).not.toContain('home');
      expect(report.result!.root).not.toContain('var');
      expect(report.result!.processes).toBe(1);
    }
    expect(first.result!.uid).not.toBe(second.result!.uid);
    expect(first.result!.random).not.toBe(second.result!.random);
    expect((first.result!.argv as string[]).slice(1)).toEqual(first.argv.slice(1));
  });

  it('stops an endless loop at the time limit', async () => {
    const started = Date.now();
    const report = await runFixture('infinite_loop.py', {}, { timeoutSeconds: 2 });
    expect(report.failure).toBe('the processor ran longer than the time limit of 2 s and was stopped');
    expect(report.log).toContain('starting an endless loop');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('stops a memory hog at the memory limit', async () => {
    const report = await runFixture('memory_hog.py');
    expect(report.failure).toMatch(/^the processor ran out of memory \(limit 300 MB\)/);
  });

  it('stops a fork bomb at the process limit and leaves no process behind', async () => {
    const report = await runFixture('fork_bomb.py', {}, { timeoutSeconds: 10 });
    expect(report.failure).toMatch(/processes or threads|time limit/);
    expect(report.failure).toContain(report.failure!.includes('time limit') ? 'time limit' : 'more than 16 processes');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(sandboxProcesses(300_000)).toEqual([]);
  });

  it('has no network, not even to a server on this machine', async () => {
    const server = http.createServer((_request, response) => response.end('reachable'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      expect(await (await fetch(url)).text()).toBe('reachable');
      const report = await runFixture('network_call.py', { url });
      expect(report.failure).toMatch(/^the processor tried to use the network, which processors cannot/);
    } finally {
      server.close();
    }
  });

  it("cannot read another user's files", async () => {
    const otherUser = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-other-user-'));
    const secret = path.join(otherUser, 'secret.txt');
    fs.writeFileSync(secret, 'private data of another user');
    try {
      for (const target of [secret, path.join(process.cwd(), 'package.json')]) {
        const report = await runFixture('read_other_file.py', { path: target });
        expect(report.failure).toMatch(/exited with code 1: FileNotFoundError/);
        expect(report.log).not.toContain('private data');
      }
    } finally {
      fs.rmSync(otherUser, { recursive: true, force: true });
    }
  });

  it('stops a script that prints 1 GB, keeping the log bounded', async () => {
    const report = await runFixture('huge_print.py');
    expect(report.failure).toBe('the processor printed more than 1 MB to stdout/stderr and was stopped');
    expect(Buffer.byteLength(report.log)).toBeLessThan(1.1 * 1024 * 1024);
  });

  it('refuses an output larger than the output limit', async () => {
    const report = await runFixture('huge_output.py');
    expect(report.failure).toMatch(/^the processor wrote a file larger than the limit of 32 MB/);
  });

  it('fails a run that exits 0 without writing its output', async () => {
    const report = await runFixture('no_output.py');
    expect(report.exit_code).toBe(0);
    expect(report.failure).toMatch(/^the processor exited with code 0 but wrote no output file at .*processed\.tif/);
    expect(report.result).toMatchObject({ message: 'forgot to write the output' });
  });

  it('fails a run whose output is not a GeoTIFF', async () => {
    const report = await runFixture('text_output.py');
    expect(report.exit_code).toBe(0);
    expect(report.failure).toBe(
      'the processor\'s output is not a readable GeoTIFF: not a TIFF file (starts with "this")',
    );
  });

  it('reports an error raised at run time with the exception and the log', async () => {
    const report = await runFixture('runtime_error.py');
    expect(report.exit_code).toBe(1);
    expect(report.failure).toBe("the processor exited with code 1: NameError: name 'undefined_name' is not defined");
    expect(report.log).toContain('about to fail');
    expect(report.log).toContain('Traceback');
  });

  it('cancels a run on request', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 1000);
    const report = await runFixture('infinite_loop.py', {}, {}, controller.signal);
    expect(report.failure).toBe('the run was cancelled');
  });

  it('keeps serving other runs while one misbehaves, and after all of the above', async () => {
    const endless = runFixture('infinite_loop.py', {}, { timeoutSeconds: 4 });
    const started = Date.now();
    const good = await runFixture('introspect.py');
    expect(good.failure).toBeNull();
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await endless).failure).toMatch(/time limit/);
  });
});

/**
 * Without root (a developer's machine running `npm start`), the runtime isolates runs in a user namespace:
 * run it as an unprivileged user (the system Python, standard-library script) and check the same isolation.
 */
describe('generic processor sandbox without root (user-namespace mode)', () => {
  const runAsNobody = (parameters: unknown) =>
    new Promise<{
      ready: { sandbox: { mode: string } };
      outcome: { exit_code: number; result: Record<string, unknown>; reason: string | null };
    }>((resolve, reject) =>
      execFile(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '/usr/bin/python3',
          path.join(__dirname, '..', 'support', 'sandbox_as_user.py'),
          processorRuntimeScript(),
          path.join(FIXTURES, 'plain_introspect.py'),
          JSON.stringify(parameters),
        ],
        { timeout: 60_000 },
        (error, stdout, stderr) =>
          error
            ? reject(new Error(`${error.message}\n${stderr}`))
            : resolve(JSON.parse(stdout.trim().split('\n').pop()!)),
      ),
    );

  it("runs a script as root of its own user namespace: pid 1, no network, none of the machine's files", async () => {
    const server = http.createServer((_request, response) => response.end('reachable'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const { ready, outcome } = await runAsNobody({
        port,
        paths: [path.join(process.cwd(), 'package.json'), '/root', processorRuntimeScript()],
      });
      expect(ready.sandbox.mode).toBe('user-namespace');
      expect(outcome.reason).toBeNull();
      expect(outcome.result).toMatchObject({ uid: 0, pid: 1, visible: [false, false, false] });
      expect(outcome.result.network).toMatch(/Network is unreachable/);
    } finally {
      server.close();
    }
  });
});

async function runPythonInline(code: string, args: string[]): Promise<string> {
  const file = path.join(os.tmpdir(), `geo-inline-${process.pid}.py`);
  fs.writeFileSync(file, code);
  try {
    const { execFile } = await import('node:child_process');
    return await new Promise((resolve, reject) =>
      execFile(pythonBin(), [file, ...args], (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Processes of sandbox users (uid >= base) still alive on this machine. */
function sandboxProcesses(uidBase: number): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if (uid >= uidBase && uid < uidBase + 10_000) found.push(`${entry} uid ${uid}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}
