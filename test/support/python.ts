import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { pythonBin } from './services';

const run = promisify(execFile);
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Runs a Python script of the repo with the project's venv interpreter; returns stdout. */
export async function runPython(script: string, args: string[]): Promise<string> {
  const { stdout } = await run(pythonBin(), [path.join(REPO_ROOT, script), ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
  return stdout;
}

export async function makeSampleGeoTiff(target: string, size = 512, seed = 7): Promise<void> {
  await runPython('python/make_sample_geotiff.py', [target, '--size', String(size), '--seed', String(seed)]);
}

export interface MaskComparison {
  shape_a: number[];
  shape_b: number[];
  total: number;
  equal: number;
  crs_a: string | null;
  crs_b: string | null;
  transform_equal: boolean;
  nodata_a: number | null;
  class_counts_a: Record<string, number>;
}

export async function compareMasks(a: string, b: string): Promise<MaskComparison> {
  const stdout = await runPython('test/support/compare_masks.py', [a, b]);
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as MaskComparison;
}

export async function crsAndTransform(file: string): Promise<{ crs: string | null; transform: number[] }> {
  const stdout = await runPython('test/support/compare_masks.py', [file, file]);
  const parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { crs_a: string | null; transform_a: number[] };
  return { crs: parsed.crs_a, transform: parsed.transform_a };
}
