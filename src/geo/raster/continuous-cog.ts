/**
 * Continuous outputs (regression values, class probabilities) as COGs: float32 or uint8, one band per channel,
 * on the grid of the model input, with AVERAGE overviews (python/write_float_cog.py runs GDAL's COG driver through
 * rasterio). Class masks keep their in-process writer (mask-cog.ts, nearest overviews).
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { repoPath } from '../../platform/repo-root';

export interface ContinuousCogRequest {
  pythonBin: string;
  /** A GeoTIFF on the output grid (the model input): its size, CRS and transform are copied. */
  templateFile: string;
  /** Band-sequential values, `bands` planes of the template's width x height. */
  values: Float32Array | Uint8Array;
  bands: number;
  /** NaN, or a value of the data type. */
  nodata: number;
  outFile: string;
  descriptions?: string[];
  units?: string;
}

export async function writeContinuousCog(request: ContinuousCogRequest): Promise<void> {
  const dtype = request.values instanceof Float32Array ? 'float32' : 'uint8';
  const raw = `${request.outFile}.bin`;
  await fsp.writeFile(raw, Buffer.from(request.values.buffer, request.values.byteOffset, request.values.byteLength));
  try {
    await runPython(request.pythonBin, repoPath('python', 'write_float_cog.py'), {
      template: request.templateFile,
      raw,
      bands: request.bands,
      dtype,
      nodata: Number.isNaN(request.nodata) ? 'NaN' : request.nodata,
      out: request.outFile,
      descriptions: request.descriptions ?? [],
      units: request.units ?? null,
    });
  } finally {
    await fsp.rm(raw, { force: true });
  }
}

function runPython(pythonBin: string, script: string, request: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(pythonBin, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new Error(`${path.basename(script)} exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' ')}`),
          ),
    );
    child.stdin.end(JSON.stringify(request));
  });
}
