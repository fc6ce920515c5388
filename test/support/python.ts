import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { pythonBin } from './services';
import { repoRoot } from '../../src/platform/repo-root';

const run = promisify(execFile);
// The folder with package.json: the same from test/support (ts-jest) and dist/test/support (bench:faults).
export const REPO_ROOT = repoRoot();

/** Runs a Python script of the repo with the project's venv interpreter; returns stdout. */
export async function runPython(script: string, args: string[]): Promise<string> {
  const { stdout } = await run(pythonBin(), [path.join(REPO_ROOT, script), ...args], {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 600_000,
  });
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

export interface OverviewComparison {
  levels_a: number;
  levels_b: number;
  levels: Array<{
    factor: number;
    shape_a: number[];
    shape_b: number[] | null;
    total: number;
    equal: number;
    values_a: number[];
  }>;
}

/** Overview levels of A against B's, pixel by pixel (rasterio). */
export async function compareOverviews(a: string, b: string): Promise<OverviewComparison> {
  const stdout = await runPython('test/support/compare_overviews.py', [a, b]);
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as OverviewComparison;
}

let gdalPythonFound: Promise<string> | undefined;
/**
 * A Python interpreter with GDAL's own bindings (osgeo_utils), for GDAL's COG validator: GDAL_PYTHON if set,
 * else the first of python3 next to the GDAL tools, /usr/bin/python3 (Debian's gdal-bin pulls in python3-gdal)
 * and python3 on PATH that can import it.
 */
export function gdalPython(): Promise<string> {
  gdalPythonFound ??= (async () => {
    const candidates = process.env.GDAL_PYTHON
      ? [process.env.GDAL_PYTHON]
      : [
          ...(process.env.GDAL_BIN_DIR ? [path.join(process.env.GDAL_BIN_DIR, 'python3')] : []),
          '/usr/bin/python3',
          'python3',
        ];
    for (const candidate of candidates) {
      const works = await run(candidate, ['-c', 'import osgeo_utils.samples.validate_cloud_optimized_geotiff']).then(
        () => true,
        () => false,
      );
      if (works) return candidate;
    }
    throw new Error(
      `no Python with GDAL's bindings among ${candidates.join(', ')}: install python3-gdal or set GDAL_PYTHON`,
    );
  })();
  return gdalPythonFound;
}

export type CogValidation = Record<string, { warnings: string[]; errors: string[] }>;

/** GDAL's validate_cloud_optimized_geotiff (with the block leader/trailer check) on each file. */
export async function validateCogs(files: string[]): Promise<CogValidation> {
  const { stdout } = await run(await gdalPython(), [path.join(REPO_ROOT, 'test/support/validate_cog.py'), ...files], {
    maxBuffer: 16 * 1024 * 1024,
    timeout: 600_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as CogValidation;
}
