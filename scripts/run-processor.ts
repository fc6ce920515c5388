/**
 * Runs a generic processor on a local GeoTIFF exactly as the pipeline does: the same warm runtime, the same
 * sandbox and limits (PROCESSOR_* variables), the same argv and output checks. Prints the log and the result.
 *
 *   npm run processor:run -- my_processor.py input.tif output.tif '{"threshold": 80}'
 *
 * A lifecycle processor (setup/process/cleanup) takes several inputs, each followed by its output: setup runs
 * once, all inputs go to the warm process in one call (process_batch when it has one), then cleanup runs.
 *
 *   npm run processor:run -- my_lifecycle.py a.tif a-out.tif b.tif b-out.tif '{"threshold": 80}'
 *
 * Exit code 0 when the pipeline step would finish (for every input), 1 when it would fail (the reason is printed).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProcessorRuntime, processorRuntimeScript } from '../src/geo/processors/processor-runtime';
import { WarmProcessors } from '../src/geo/processors/warm-processors';
import { processorLimits, withProcessorRun } from '../src/geo/processors/run-processor';
import { loadConfig } from '../src/platform/config/config';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const parametersJson = args.length > 3 && args.length % 2 === 0 ? args.pop()! : '{}';
  const [script, ...files] = args;
  const pairs: Array<[string, string]> = [];
  for (let index = 0; index + 1 < files.length; index += 2) pairs.push([files[index]!, files[index + 1]!]);
  if (!script || pairs.length === 0 || files.length % 2 !== 0) {
    console.error(
      'usage: npm run processor:run -- <processor.py> <input.tif> <output.tif> [<input.tif> <output.tif> ...] [parameters_json]',
    );
    return 2;
  }
  let parameters: Record<string, unknown>;
  try {
    parameters = JSON.parse(parametersJson) as Record<string, unknown>;
  } catch (error) {
    console.error(`parameters_json is not valid JSON: ${(error as Error).message}`);
    return 2;
  }
  const config = loadConfig();
  const runtime = new ProcessorRuntime({
    pythonBin: config.PYTHON_BIN,
    uidBase: config.PROCESSOR_UID_BASE,
    preimport: config.PROCESSOR_PREIMPORT,
    onLog: (line) => console.error(`[runtime] ${line}`),
  });
  try {
    const ready = await runtime.start();
    console.error(`[runtime] python ready in ${ready.startup_ms} ms, pre-imported ${ready.preimported.join(', ')}`);
    const { stdout } = await promisify(execFile)(config.PYTHON_BIN, [
      processorRuntimeScript(),
      'check',
      path.resolve(script),
    ]);
    const verdict = JSON.parse(stdout) as { ok: boolean; style?: string; message?: string };
    if (!verdict.ok) {
      console.log(`FAILED: the upload would be refused: ${verdict.message}`);
      return 1;
    }
    if (verdict.style === 'lifecycle') return await runLifecycle(runtime, config, script, pairs, parameters);
    if (pairs.length > 1) {
      console.error('a script processor takes one input and one output (several are for lifecycle processors)');
      return 2;
    }
    const [[input, output]] = pairs as [[string, string]];
    return await withProcessorRun(
      runtime,
      {
        scriptFile: path.resolve(script),
        scriptName: path.basename(script),
        inputFile: path.resolve(input),
        parameters,
      },
      processorLimits(config),
      undefined,
      async (report) => {
        console.log(`----- log (stdout and stderr, ${report.log_bytes} bytes) -----`);
        process.stdout.write(report.log.endsWith('\n') || !report.log ? report.log : `${report.log}\n`);
        console.log('----- result -----');
        console.log(
          JSON.stringify(
            {
              exit_code: report.exit_code,
              signal: report.signal,
              duration_ms: report.duration_ms,
              result: report.result,
              failure: report.failure,
            },
            null,
            2,
          ),
        );
        if (report.failure || !report.outputPath) {
          console.log(`FAILED: ${report.failure}`);
          return 1;
        }
        fs.copyFileSync(report.outputPath, output);
        console.log(`OK: output written to ${path.resolve(output)}`);
        return 0;
      },
      { inspectOutput: true },
    );
  } finally {
    await runtime.close();
  }
}

/** Setup once, every input in one call, cleanup: as a worker's warm process does it. */
async function runLifecycle(
  runtime: ProcessorRuntime,
  config: ReturnType<typeof loadConfig>,
  script: string,
  pairs: Array<[string, string]>,
  parameters: Record<string, unknown>,
): Promise<number> {
  let cleanupLog = '';
  const warm = new WarmProcessors(runtime, {
    idleSeconds: config.PROCESSOR_IDLE_SECONDS,
    events: { cleanupLog: ({ log, reason }) => (cleanupLog = log + (reason ? `cleanup failed: ${reason}\n` : '')) },
  });
  try {
    return await warm.run(
      {
        processorId: 'local',
        processorName: path.basename(script),
        user: 'local',
        fileKey: path.resolve(script),
        scriptName: path.basename(script),
        parameters,
        loadScript: (destination) => fs.promises.copyFile(path.resolve(script), destination),
      },
      pairs.map(([input]) => ({ inputFile: path.resolve(input), parameters })),
      processorLimits(config),
      undefined,
      async (reports) => {
        const [first] = reports;
        console.log(`----- log (setup and ${reports.length} input(s) in one call) -----`);
        process.stdout.write(first!.log.endsWith('\n') || !first!.log ? first!.log : `${first!.log}\n`);
        let failed = 0;
        for (const [index, report] of reports.entries()) {
          const [input, output] = pairs[index]!;
          console.log(`----- result of ${input} -----`);
          console.log(
            JSON.stringify(
              {
                setup_ms: report.setup_ms,
                call_ms: report.duration_ms,
                processor_ms: report.user_ms,
                batch_size: report.batch_size,
                result: report.result,
                failure: report.failure,
              },
              null,
              2,
            ),
          );
          if (report.failure || !report.outputPath) {
            failed++;
            console.log(`FAILED: ${report.failure}`);
            continue;
          }
          fs.copyFileSync(report.outputPath, output);
          console.log(`OK: output written to ${path.resolve(output)}`);
        }
        return failed > 0 ? 1 : 0;
      },
      { batch: true, inspectOutput: true },
    );
  } finally {
    await warm.close();
    if (cleanupLog) {
      console.log('----- cleanup log -----');
      process.stdout.write(cleanupLog.endsWith('\n') ? cleanupLog : `${cleanupLog}\n`);
    }
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
