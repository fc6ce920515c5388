/**
 * Cloud-Optimized GeoTIFF (https://cogeo.org) conversion with GDAL's COG driver (gdal_translate -of COG,
 * GDAL >= 3.1): tiled, DEFLATE, internal overviews, IFDs before the pixel data so clients read any window or
 * zoom level with a few HTTP range requests. CRS, transform and nodata are carried over by GDAL.
 *
 * Used for generic-processor outputs, which can be any raster. Model outputs (single-band uint8 class masks)
 * are written directly as COGs by writeMaskCog (mask-cog.ts), which produces what this conversion would
 * without spawning GDAL.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CogOptions {
  /** Directory holding gdal_translate (config GDAL_BIN_DIR); default: PATH. */
  gdalBinDir?: string;
  /**
   * Overview resampling. Class masks need NEAREST or MODE: averaging would invent classes; continuous (float)
   * values get AVERAGE (nodata left out). Default NEAREST.
   */
  resampling?: 'NEAREST' | 'MODE' | 'AVERAGE';
  /** Tile size (multiple of 16). Default 256. */
  blockSize?: number;
  /** Abort after this long (default 10 minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class CogError extends Error {
  constructor(
    message: string,
    /** The GDAL tools are missing or unusable: retrying on this worker cannot help. */
    readonly setupProblem = false,
  ) {
    super(message);
    this.name = 'CogError';
  }
}

export function gdalTool(name: 'gdal_translate' | 'gdalinfo', gdalBinDir?: string): string {
  return gdalBinDir ? path.join(gdalBinDir, name) : name;
}

/** Writes `dst`, a COG copy of the GeoTIFF `src` (pixel values, CRS, transform and nodata unchanged). */
export async function toCloudOptimizedGeoTiff(src: string, dst: string, options: CogOptions = {}): Promise<void> {
  const blockSize = options.blockSize ?? 256;
  if (!Number.isInteger(blockSize) || blockSize <= 0 || blockSize % 16 !== 0)
    throw new CogError(`blockSize must be a positive multiple of 16, got ${blockSize}`);
  const tool = gdalTool('gdal_translate', options.gdalBinDir);
  const args = [
    '-q',
    '-of',
    'COG',
    '-co',
    'COMPRESS=DEFLATE',
    // Horizontal differencing gains nothing on class masks; PREDICTOR=NO keeps every reader happy.
    '-co',
    'PREDICTOR=NO',
    '-co',
    `BLOCKSIZE=${blockSize}`,
    '-co',
    `OVERVIEW_RESAMPLING=${options.resampling ?? 'NEAREST'}`,
    '-co',
    'NUM_THREADS=ALL_CPUS',
    src,
    dst,
  ];
  try {
    await run(tool, args, {
      timeout: options.timeoutMs ?? 600_000,
      signal: options.signal,
      maxBuffer: 4 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
    if (e.code === 'ENOENT') {
      throw new CogError(
        `${tool} not found: install GDAL's command-line tools (Debian: apt-get install gdal-bin) or set GDAL_BIN_DIR`,
        true,
      );
    }
    if (e.name === 'AbortError') throw error;
    const detail = (e.stderr ?? '').trim() || e.message;
    throw new CogError(
      `gdal_translate -of COG failed for ${path.basename(src)}: ${detail}`,
      /driver\W+COG\W+not recogni[sz]ed/i.test(detail),
    );
  }
}

/**
 * Whether the GeoTIFF `src` holds floating-point samples (gdalinfo -json): continuous values, whose overviews
 * average. False when gdalinfo cannot read it (the COG conversion then reports the problem).
 */
export async function hasFloatSamples(src: string, options: Pick<CogOptions, 'gdalBinDir' | 'signal'> = {}) {
  try {
    const { stdout } = await run(gdalTool('gdalinfo', options.gdalBinDir), ['-json', src], {
      timeout: 60_000,
      signal: options.signal,
      maxBuffer: 16 * 1024 * 1024,
    });
    const bands = (JSON.parse(stdout) as { bands?: Array<{ type?: string }> }).bands ?? [];
    return bands.length > 0 && bands.every((band) => /^(C?Float)/.test(band.type ?? ''));
  } catch {
    return false;
  }
}
