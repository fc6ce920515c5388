import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { CliError, EXIT, type GeoApi } from './api';
import { note, type Output } from './output';

export interface DownloadedFile {
  kind: 'output' | 'coco' | 'log';
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
 * COCO export (coco.json) and the step logs (logs/<task id>/<step id>.log). Missing pieces are listed, not fatal.
 */
export async function downloadInference(
  api: GeoApi,
  id: string,
  directory: string,
  options: { coco: boolean; logs: boolean },
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
      if (error instanceof CliError && error.details.status === 404) {
        result.skipped.push({ kind, ...extra, reason: error.message.replace(/^HTTP 404: /, '') });
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
