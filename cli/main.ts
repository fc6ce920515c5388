#!/usr/bin/env node
import * as fs from 'node:fs';
import * as path from 'node:path';
import cliProgress from 'cli-progress';
import { Command, CommanderError, Option } from 'commander';
import { CliError, EXIT, GeoApi } from './api';
import { downloadInference } from './download';
import { formatBytes, note, type Output, printJson, printJsonLine, printTable } from './output';
import { postMultipart } from './upload';
import { watchInference } from './watch';

/**
 * geo-inference: the REST API from a shell (docs/cli.md). Talks HTTP only, with GEO_API_URL and GEO_API_KEY
 * (or --api-url / --api-key); --json prints the API's answers for scripts; exit codes are in cli/api.ts EXIT.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The package's version: package.json is two levels up in dist/cli, one level up in the sources. */
function packageVersion(): string {
  for (const candidate of [
    path.join(__dirname, '..', '..', 'package.json'),
    path.join(__dirname, '..', 'package.json'),
  ]) {
    try {
      const manifest = JSON.parse(fs.readFileSync(candidate, 'utf8'));
      if (manifest.name === 'geo-inference') return manifest.version;
    } catch {
      // not this layout
    }
  }
  return 'unknown';
}

interface GlobalOptions {
  apiUrl: string;
  apiKey?: string;
  json?: boolean;
}

function context(command: Command): { api: GeoApi; output: Output } {
  const options = command.optsWithGlobals<GlobalOptions>();
  const json = Boolean(options.json);
  return {
    api: new GeoApi({ apiUrl: options.apiUrl, apiKey: options.apiKey }),
    output: { json, interactive: !json && Boolean(process.stderr.isTTY) },
  };
}

function readJsonFile(file: string, option: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(`${option} ${file}: ${(error as Error).message}`, EXIT.USAGE);
  }
}

function parseJson(text: string, option: string): Record<string, unknown> {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${option}: not JSON (${(error as Error).message})`, EXIT.USAGE);
  }
}

function modelFields(model: string): { model_id: string } | { model_display_name: string } {
  return UUID.test(model) ? { model_id: model } : { model_display_name: model };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function parseBbox(text: string): number[] {
  const values = text.split(',').map((part) => Number(part.trim()));
  if (values.length !== 4 || values.some((value) => !Number.isFinite(value)))
    throw new CliError(`--bbox ${text}: expected lon_min,lat_min,lon_max,lat_max`, EXIT.USAGE);
  return values;
}

function geoTiffsIn(directory: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch (error) {
    throw new CliError(`--dir ${directory}: ${(error as Error).message}`, EXIT.USAGE);
  }
  const files = names
    .filter((name) => /\.tiff?$/i.test(name))
    .sort()
    .map((name) => path.join(directory, name))
    .filter((file) => fs.statSync(file).isFile());
  if (files.length === 0) throw new CliError(`--dir ${directory}: no .tif or .tiff files`, EXIT.USAGE);
  return files;
}

function inferenceRow(inference: Record<string, any>) {
  return {
    id: inference.id,
    status: inference.status,
    model: inference.model_display_name,
    tasks: `${inference.tasks_count_success ?? 0}/${inference.tasks_count_total ?? 0}`,
    failed: inference.tasks_count_failed ?? 0,
    created_at: inference.created_at,
  };
}

async function watchAndExit(api: GeoApi, id: string, output: Output): Promise<number> {
  const result = await watchInference(api, id, output);
  if (!output.json) process.stdout.write(`inference ${id} ${result.status}\n`);
  return result.status === 'COMPLETED' ? EXIT.OK : EXIT.FAILED;
}

export function buildProgram(state: { exitCode: number } = { exitCode: EXIT.OK }): Command {
  const program = new Command('geo-inference')
    .description('Command-line client of the geo-inference REST API')
    .version(packageVersion())
    .addOption(new Option('--api-url <url>', 'base URL of the API').env('GEO_API_URL').default('http://localhost:3000'))
    .addOption(new Option('--api-key <key>', 'API key (Authorization: Bearer)').env('GEO_API_KEY'))
    .option('--json', 'print JSON for scripts (NDJSON for event streams)')
    .showHelpAfterError()
    .exitOverride();
  const action =
    <A extends unknown[]>(run: (...args: A) => Promise<number | void>) =>
    async (...args: A) => {
      state.exitCode = (await run(...args)) ?? EXIT.OK;
    };

  const models = program.command('models').description('ONNX models');
  models
    .command('list')
    .description('registered models')
    .option('--limit <n>', 'at most this many', '100')
    .action(
      action(async (options: { limit: string }, command: Command) => {
        const { api, output } = context(command);
        const page = await api.get(`/api/v2/models?limit=${encodeURIComponent(options.limit)}`);
        if (output.json) return printJson(page);
        printTable(
          page.results.map((model: Record<string, unknown>) => ({
            id: model.id,
            name: model.display_name,
            status: model.status,
            created_at: model.created_at,
          })),
          ['id', 'name', 'status', 'created_at'],
        );
      }),
    );
  models
    .command('register <file>')
    .description('register an .onnx model with its metadata (display_name, model_input_data_spec, ...)')
    .requiredOption('--metadata <json-file>', 'the model metadata as JSON (the `model` field of POST /api/v2/models)')
    .option('--name <display-name>', 'display_name (overrides the metadata)')
    .option('--description <text>', 'description (overrides the metadata)')
    .action(
      action(async (file: string, options: { metadata: string; name?: string; description?: string }, command) => {
        const { api, output } = context(command);
        const metadata = readJsonFile(options.metadata, '--metadata');
        if (options.name) metadata.display_name = options.name;
        if (options.description) metadata.description = options.description;
        const model = await postMultipart<Record<string, unknown>>(api, '/api/v2/models', [
          { field: 'model', json: metadata },
          { field: 'model_file', file },
        ]);
        if (output.json) return printJson(model);
        process.stdout.write(`model ${model.id} ${model.display_name}: ${model.status}\n`);
      }),
    );

  const processors = program.command('processors').description('generic Python processors');
  processors
    .command('list')
    .description("the caller's processors")
    .action(
      action(async (_options: unknown, command: Command) => {
        const { api, output } = context(command);
        const page = await api.get('/api/v2/generic-processor');
        if (output.json) return printJson(page);
        printTable(
          page.results.map((processor: Record<string, unknown>) => ({
            id: processor.id,
            name: processor.name,
            file: processor.file_name,
            created_at: processor.created_at,
          })),
          ['id', 'name', 'file', 'created_at'],
        );
      }),
    );
  processors
    .command('upload <file>')
    .description('upload a .py processor script')
    .option('--metadata <json-file>', 'name, description, processor_parameters as JSON')
    .option('--name <name>', 'processor name (overrides the metadata)')
    .option('--description <text>', 'description')
    .option('--parameters <json>', 'processor_parameters as a JSON object')
    .action(
      action(
        async (
          file: string,
          options: { metadata?: string; name?: string; description?: string; parameters?: string },
          command: Command,
        ) => {
          const { api, output } = context(command);
          const metadata = options.metadata ? readJsonFile(options.metadata, '--metadata') : {};
          if (options.name) metadata.name = options.name;
          if (options.description) metadata.description = options.description;
          if (options.parameters) metadata.processor_parameters = parseJson(options.parameters, '--parameters');
          const processor = await postMultipart<Record<string, unknown>>(api, '/api/v2/generic-processor', [
            { field: 'generic_processor', json: metadata },
            { field: 'generic_processor_file', file, contentType: 'text/x-python' },
          ]);
          if (output.json) return printJson(processor);
          process.stdout.write(`processor ${processor.id} ${processor.name}\n`);
        },
      ),
    );

  program
    .command('run')
    .description('start an inference on URLs, bboxes or MGRS tiles and dates, or on a directory of GeoTIFFs (upload)')
    .requiredOption('--model <id-or-name>', 'model id or display name')
    .option('--url <url>', 'a GeoTIFF URL (repeat for more)', collect)
    .option('--bbox <lon_min,lat_min,lon_max,lat_max>', 'an area in WGS84 (repeat for more)', collect)
    .option('--tile <mgrs>', 'a Sentinel-2 MGRS tile such as 33UXP (repeat for more)', collect)
    .option('--date <date>', 'a date or interval of temporal_domain, e.g. 2024-06-15 (repeat for more)', collect)
    .option('--dir <directory>', 'upload every .tif/.tiff of this directory (one task each)')
    .option('--data-source <id>', 'sentinel-2-l2a or hls (bbox and tiles)')
    .option('--maxcc <percent>', 'maximum cloud cover of scenes (bbox and tiles)')
    .option('--processor <id>', 'generic processor id')
    .option('--post-processing <keys>', 'comma-separated: cloud_masking, snow_ice_masking, permanent_water_masking')
    .option('--description <text>', 'description')
    .option('--location <text>', 'location')
    .option('--webhook-url <url>', 'webhook of this inference')
    .option('--watch', 'then follow it to its end (exit code 1 unless COMPLETED)')
    .action(
      action(async (options: Record<string, any>, command: Command) => {
        const { api, output } = context(command);
        const fields: Record<string, unknown> = {
          ...modelFields(options.model),
          ...(options.date ? { temporal_domain: options.date } : {}),
          ...(options.description ? { description: options.description } : {}),
          ...(options.location ? { location: options.location } : {}),
          ...(options.dataSource ? { data_source: options.dataSource } : {}),
          ...(options.maxcc !== undefined ? { maxcc: Number(options.maxcc) } : {}),
          ...(options.processor ? { generic_processor_id: options.processor } : {}),
          ...(options.webhookUrl ? { webhook_url: options.webhookUrl } : {}),
          ...(options.postProcessing
            ? {
                post_processing: Object.fromEntries(
                  String(options.postProcessing)
                    .split(',')
                    .map((key) => [key.trim(), true]),
                ),
              }
            : {}),
        };
        let created: Record<string, any>;
        if (options.dir) {
          if (options.url || options.bbox || options.tile)
            throw new CliError('--dir uploads files: do not combine it with --url, --bbox or --tile', EXIT.USAGE);
          const files = geoTiffsIn(options.dir);
          const bar = output.interactive
            ? new cliProgress.SingleBar(
                {
                  format: 'upload |{bar}| {percentage}% {sent}/{size} file {file}/{files}',
                  stream: process.stderr,
                  hideCursor: true,
                },
                cliProgress.Presets.shades_classic,
              )
            : undefined;
          bar?.start(1, 0, { sent: '0 B', size: '?', file: 0, files: files.length });
          try {
            created = await postMultipart(
              api,
              '/api/v2/inference/upload',
              [
                { field: 'inference', json: fields },
                ...files.map((file) => ({ field: 'files', file, contentType: 'image/tiff' })),
              ],
              {
                onBytes: (sent, total, file, count) => {
                  bar?.setTotal(total);
                  bar?.update(sent, { sent: formatBytes(sent), size: formatBytes(total), file, files: count });
                },
              },
            );
          } finally {
            bar?.stop();
          }
        } else {
          const spatial: Record<string, unknown> = {};
          if (options.url) spatial.urls = options.url;
          if (options.bbox) spatial.bbox = (options.bbox as string[]).map(parseBbox);
          if (options.tile) spatial.tiles = options.tile;
          if (Object.keys(spatial).length === 0)
            throw new CliError('run needs --url, --bbox, --tile or --dir', EXIT.USAGE);
          created = await api.post('/api/v2/inference', {
            temporal_domain: [],
            ...fields,
            spatial_domain: spatial,
          });
        }
        // With --watch, NDJSON throughout: the created inference, then its events.
        if (output.json && options.watch) printJsonLine(created);
        else if (output.json) printJson(created);
        else
          process.stdout.write(
            `inference ${created.id} ${created.status} (${created.tasks_count_total} task${created.tasks_count_total === 1 ? '' : 's'})\n`,
          );
        if (options.watch) return watchAndExit(api, created.id, output);
        if (!output.json) note(`follow it with: geo-inference watch ${created.id}`);
      }),
    );

  program
    .command('watch <id>')
    .description('live per-step progress of an inference until it ends (exit code 1 unless COMPLETED)')
    .action(
      action(async (id: string, _options: unknown, command: Command) => {
        const { api, output } = context(command);
        return watchAndExit(api, id, output);
      }),
    );

  program
    .command('download <id> <dir>')
    .description(
      'task outputs, the COCO export, the step logs, the STAC catalog (static copy) and the vectors of an inference into a directory',
    )
    .option('--no-coco', 'without the COCO export')
    .option('--no-logs', 'without the step logs')
    .option('--no-stac', 'without the STAC catalog and its assets')
    .option('--no-vectors', 'without the vectors (vectors.geojson, vectors.fgb)')
    .action(
      action(
        async (
          id: string,
          dir: string,
          options: { coco: boolean; logs: boolean; stac: boolean; vectors: boolean },
          command: Command,
        ) => {
          const { api, output } = context(command);
          const result = await downloadInference(api, id, dir, options, output);
          if (output.json) return printJson(result);
          const bytes = result.files.reduce((sum, file) => sum + file.bytes, 0);
          process.stdout.write(`${result.files.length} files (${formatBytes(bytes)}) in ${result.directory}\n`);
          for (const skipped of result.skipped)
            note(`skipped ${skipped.kind}${skipped.task_id ? ` of ${skipped.task_id}` : ''}: ${skipped.reason}`);
        },
      ),
    );

  program
    .command('ls')
    .description("the caller's inferences, newest first")
    .option('--status <status>', 'only this status (PENDING, RUNNING, COMPLETED, FAILED, STOPPED)')
    .option('--model <id-or-name>', 'only this model')
    .option('--limit <n>', 'at most this many', '20')
    .action(
      action(async (options: { status?: string; model?: string; limit: string }, command: Command) => {
        const { api, output } = context(command);
        const query = new URLSearchParams({ limit: options.limit });
        if (options.status) query.set('status', options.status.toUpperCase());
        if (options.model) for (const [key, value] of Object.entries(modelFields(options.model))) query.set(key, value);
        const page = await api.get(`/api/v2/inference?${query}`);
        if (output.json) return printJson(page);
        printTable(page.results.map(inferenceRow), ['id', 'status', 'model', 'tasks', 'failed', 'created_at']);
      }),
    );

  program
    .command('show <id>')
    .description('one inference with its tasks and steps')
    .action(
      action(async (id: string, _options: unknown, command: Command) => {
        const { api, output } = context(command);
        const inference = await api.get(`/api/v2/inference/${encodeURIComponent(id)}`);
        const tasks = await api.get(`/api/v2/inference/${encodeURIComponent(id)}/tasks`);
        if (output.json) return printJson({ ...inference, tasks: tasks.tasks });
        printTable([inferenceRow(inference)], ['id', 'status', 'model', 'tasks', 'failed', 'created_at']);
        process.stdout.write('\n');
        printTable(
          tasks.tasks.map((task: Record<string, any>) => ({
            task: task.task_id,
            status: task.status,
            steps: task.pipeline_steps
              .map((step: Record<string, string>) => `${step.process_id}:${step.status}`)
              .join(' '),
            message: task.message ?? '',
          })),
          ['task', 'status', 'steps', 'message'],
        );
      }),
    );

  program
    .command('stop <id>')
    .description('cancel a running inference')
    .action(
      action(async (id: string, _options: unknown, command: Command) => {
        const { api, output } = context(command);
        const answer = await api.post(`/api/v2/inference/${encodeURIComponent(id)}/stop`);
        if (output.json) return printJson(answer);
        process.stdout.write(`inference ${id} ${answer.status}: ${answer.message}\n`);
      }),
    );

  program
    .command('retry <id>')
    .description('rerun the failed and stopped tasks of an ended inference')
    .option('--watch', 'then follow it to its end (exit code 1 unless COMPLETED)')
    .action(
      action(async (id: string, options: { watch?: boolean }, command: Command) => {
        const { api, output } = context(command);
        const answer = await api.post(`/api/v2/inference/${encodeURIComponent(id)}/retry`);
        if (output.json && options.watch) printJsonLine(answer);
        else if (output.json) printJson(answer);
        else process.stdout.write(`inference ${id} ${answer.status}: ${answer.tasks_to_rerun} tasks rerun\n`);
        if (options.watch) return watchAndExit(api, id, output);
      }),
    );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const state = { exitCode: EXIT.OK as number };
  const program = buildProgram(state);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not failures; commander has printed its message already.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const failure =
      error instanceof CliError ? error : new CliError(`unexpected error: ${(error as Error).stack}`, EXIT.FAILED);
    if (json) printJson({ error: failure.message, exit_code: failure.exitCode, ...failure.details });
    process.stderr.write(`error: ${failure.message}\n`);
    return failure.exitCode;
  }
}

if (require.main === module) {
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
