/**
 * Runs a generic processor on a local GeoTIFF exactly as the pipeline does: the same warm runtime, the same
 * sandbox and limits (PROCESSOR_* variables), the same argv and output checks. Prints the log and the result.
 *
 *   npm run processor:run -- my_processor.py input.tif output.tif '{"threshold": 80}'
 *
 * Exit code 0 when the pipeline step would finish, 1 when it would fail (the reason is printed).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProcessorRuntime } from '../src/geo/processors/processor-runtime';
import { processorLimits, withProcessorRun } from '../src/geo/processors/run-processor';
import { loadConfig } from '../src/platform/config/config';

async function main(): Promise<number> {
  const [script, input, output, parametersJson = '{}'] = process.argv.slice(2);
  if (!script || !input || !output) {
    console.error('usage: npm run processor:run -- <script.py> <input.tif> <output.tif> [parameters_json]');
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

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
