import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { CliError, EXIT, type GeoApi } from './api';
import { note, type Output } from './output';

export interface DownloadedFile {
  kind: 'output' | 'coco' | 'log' | 'stac' | 'stac-asset' | 'vectors';
  task_id?: string;
  step_id?: string;
  path: string;
  bytes: number;
  sha256: string;
}

export interface DownloadResult {
  inference_id: string;
  directory: string;
  files: DownloadedFile[];
  /** What was not there to download, and why (the API's message). */
  skipped: Array<{ kind: string; task_id?: string; step_id?: string; reason: string }>;
}

async function save(response: Response, file: string): Promise<{ bytes: number; sha256: string }> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  const partial = `${file}.partial`;
  await pipeline(Readable.fromWeb(response.body as never), tap, fs.createWriteStream(partial));
  fs.renameSync(partial, file);
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * Every output of an inference into DIR: task outputs (outputs/<task id>.tif, through their signed URLs), the
 * COCO export (coco.json), the step logs (logs/<task id>/<step id>.log), the STAC catalog as a static,
 * self-contained copy (stac/collection.json, stac/<task id>/item.json beside the Items' assets, relative links;
 * only the model keeps its signed URL) and the vectors of all tasks (vectors.geojson, vectors.fgb). Missing
 * pieces are listed, not fatal.
 */
export async function downloadInference(
  api: GeoApi,
  id: string,
  directory: string,
  options: { coco: boolean; logs: boolean; stac?: boolean; vectors?: boolean },
  output: Output,
): Promise<DownloadResult> {
  const encoded = encodeURIComponent(id);
  const listing = await api.get<{
    tasks: Array<{
      task_id: string;
      output_key: string | null;
      pipeline_steps: Array<{ process_id: string; status: string }>;
    }>;
  }>(`/api/v2/inference/${encoded}/tasks`);
  const result: DownloadResult = { inference_id: id, directory: path.resolve(directory), files: [], skipped: [] };
  const jobs: Array<() => Promise<void>> = [];

  const optional = async (kind: string, extra: { task_id?: string; step_id?: string }, route: string) => {
    try {
      return await api.fetch(route);
    } catch (error) {
      // 404: not written (yet); 422: cannot be made (FlatGeobuf of tasks in several CRSs).
      const status = error instanceof CliError ? error.details.status : undefined;
      if (status === 404 || status === 422) {
        result.skipped.push({ kind, ...extra, reason: (error as Error).message.replace(/^HTTP 4\d\d: /, '') });
        return undefined;
      }
      throw error;
    }
  };

  for (const task of listing.tasks) {
    if (!task.output_key) {
      result.skipped.push({ kind: 'output', task_id: task.task_id, reason: 'the task has no output' });
    } else {
      jobs.push(async () => {
        const signed = await api.get<{ url: string }>(`/api/v2/tasks/${encodeURIComponent(task.task_id)}/output-url`);
        let response: Response;
        try {
          // A signed URL (object storage or the API's /files): no API key goes with it.
          response = await fetch(signed.url);
        } catch (error) {
          throw new CliError(`cannot download ${signed.url}: ${(error as Error).message}`, EXIT.UNREACHABLE);
        }
        if (!response.ok)
          throw new CliError(`download of ${task.task_id} output: HTTP ${response.status}`, EXIT.API_ERROR);
        const file = path.join(directory, 'outputs', `${task.task_id}${path.extname(task.output_key!) || '.tif'}`);
        result.files.push({ kind: 'output', task_id: task.task_id, path: file, ...(await save(response, file)) });
      });
    }
    if (options.logs) {
      for (const step of task.pipeline_steps) {
        if (step.status === 'WAITING') continue;
        jobs.push(async () => {
          const route = `/api/v2/tasks/${encodeURIComponent(task.task_id)}/logs/${encodeURIComponent(step.process_id)}`;
          const response = await optional('log', { task_id: task.task_id, step_id: step.process_id }, route);
          if (!response) return;
          const file = path.join(directory, 'logs', task.task_id, `${step.process_id}.log`);
          result.files.push({
            kind: 'log',
            task_id: task.task_id,
            step_id: step.process_id,
            path: file,
            ...(await save(response, file)),
          });
        });
      }
    }
  }
  if (options.coco) {
    jobs.push(async () => {
      const response = await optional('coco', {}, `/api/v2/inference/${encoded}/coco`);
      if (!response) return;
      const file = path.join(directory, 'coco.json');
      result.files.push({ kind: 'coco', path: file, ...(await save(response, file)) });
    });
  }

  if (options.vectors !== false) {
    for (const format of ['geojson', 'fgb'] as const)
      jobs.push(async () => {
        const response = await optional('vectors', {}, `/api/v2/inference/${encoded}/vectors?format=${format}`);
        if (!response) return;
        const file = path.join(directory, `vectors.${format}`);
        result.files.push({ kind: 'vectors', path: file, ...(await save(response, file)) });
      });
  }
  if (options.stac !== false) await planStac(api, encoded, directory, result, jobs, optional);

  const bar = output.interactive
    ? new cliProgress.SingleBar(
        { format: 'download |{bar}| {value}/{total} files', stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(jobs.length, 0);
  // A few at once: outputs can be large, logs are many and small.
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      await job();
      bar?.increment();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(4, jobs.length) }, worker));
  } finally {
    bar?.stop();
  }
  result.files.sort((a, b) => a.path.localeCompare(b.path));
  if (!output.json && !output.interactive)
    for (const file of result.files) note(`saved ${path.relative(process.cwd(), file.path) || file.path}`);
  return result;
}

type JsonObject = Record<string, unknown>;
type Optional = (kind: string, extra: { task_id?: string }, route: string) => Promise<Response | undefined>;

async function fetchSigned(href: string, what: string): Promise<Response> {
  let response: Response;
  try {
    // Signed URLs: no API key goes with them.
    response = await fetch(href);
  } catch (error) {
    throw new CliError(`cannot download ${what}: ${(error as Error).message}`, EXIT.UNREACHABLE);
  }
  if (!response.ok) throw new CliError(`download of ${what}: HTTP ${response.status}`, EXIT.API_ERROR);
  return response;
}

/** An asset's local file name: its key's file name (the static catalog's own names), else the asset key. */
function assetFileName(name: string, href: string): string {
  const base = path.posix.basename(new URL(href).pathname);
  return /^[\w.-]+$/.test(base) ? base : name.replace(/[^\w.-]/g, '_');
}

/**
 * Queues the STAC downloads: the served Collection and Items (signed hrefs, links into the API) become a
 * static catalog under stac/: each asset but the model saved beside its Item and its href made relative,
 * links relative (root/parent/collection to ../collection.json, items to ./<task id>/item.json).
 */
async function planStac(
  api: GeoApi,
  encoded: string,
  directory: string,
  result: DownloadResult,
  jobs: Array<() => Promise<void>>,
  optional: Optional,
): Promise<void> {
  const response = await optional('stac', {}, `/api/v2/inference/${encoded}/stac`);
  if (!response) return;
  const collection = (await response.json()) as JsonObject;
  const root = path.join(directory, 'stac');
  const itemLinks = ((collection.links as JsonObject[]) ?? []).filter((link) => link.rel === 'item');
  const taskIds: string[] = [];
  for (const link of itemLinks) {
    const taskId = decodeURIComponent(String(link.href).replace(/\/+$/, '').split('/').pop() ?? '');
    taskIds.push(taskId);
  }
  const localCollection: JsonObject = {
    ...collection,
    links: [
      { rel: 'root', href: './collection.json', type: 'application/json' },
      ...taskIds.map((taskId) => ({ rel: 'item', href: `./${taskId}/item.json`, type: 'application/geo+json' })),
    ],
    assets: await localAssets(collection.assets as JsonObject | undefined, root, jobs, result),
  };
  jobs.push(async () => {
    const file = path.join(root, 'collection.json');
    result.files.push({ kind: 'stac', path: file, ...writeJson(file, localCollection) });
  });
  for (const taskId of taskIds) {
    const item = await api.get<JsonObject>(`/api/v2/inference/${encoded}/stac/items/${encodeURIComponent(taskId)}`);
    const folder = path.join(root, taskId);
    const localItem: JsonObject = {
      ...item,
      links: [
        { rel: 'root', href: '../collection.json', type: 'application/json' },
        { rel: 'parent', href: '../collection.json', type: 'application/json' },
        { rel: 'collection', href: '../collection.json', type: 'application/json' },
      ],
      assets: await localAssets(item.assets as JsonObject | undefined, folder, jobs, result, taskId),
    };
    jobs.push(async () => {
      const file = path.join(folder, 'item.json');
      result.files.push({ kind: 'stac', task_id: taskId, path: file, ...writeJson(file, localItem) });
    });
  }
}

/** The assets with local relative hrefs, queueing their downloads (the model keeps its signed URL). */
async function localAssets(
  assets: JsonObject | undefined,
  folder: string,
  jobs: Array<() => Promise<void>>,
  result: DownloadResult,
  taskId?: string,
): Promise<JsonObject> {
  const local: JsonObject = {};
  for (const [name, value] of Object.entries(assets ?? {})) {
    const asset = value as JsonObject & { href: string; roles?: string[] };
    if (asset.roles?.includes('mlm:model') || !/^https?:/.test(asset.href)) {
      local[name] = asset;
      continue;
    }
    const fileName = assetFileName(name, asset.href);
    local[name] = { ...asset, href: `./${fileName}` };
    jobs.push(async () => {
      const file = path.join(folder, fileName);
      const response = await fetchSigned(asset.href, `STAC asset ${name}${taskId ? ` of ${taskId}` : ''}`);
      result.files.push({
        kind: 'stac-asset',
        ...(taskId ? { task_id: taskId } : {}),
        path: file,
        ...(await save(response, file)),
      });
    });
  }
  return local;
}

function writeJson(file: string, value: unknown): { bytes: number; sha256: string } {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const bytes = Buffer.from(JSON.stringify(value, null, 1));
  fs.writeFileSync(file, bytes);
  return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}
