/**
 * Model output as a Cloud-Optimized GeoTIFF, the two ways, same masks, same run, alternating:
 * - writeMaskCog: the COG written directly, in-process;
 * - writeMaskGeoTiff (uncompressed) + toCloudOptimizedGeoTiff (gdal_translate -of COG): what model-inference
 *   did before.
 * Masks: 256 x 256 and 2048 x 2048 uint8 class masks (4 classes in 37 px blocks, 1 % single-pixel salt, a
 * nodata strip), on a UTM grid. Prints median wall time per file and CPU time per file (this process and its
 * threads, plus waited-for children, i.e. gdal_translate, read from /proc/self/stat on Linux).
 *
 *   npm run bench:mask-cog [-- runs=30]      (GDAL_BIN_DIR: directory of gdal_translate, default PATH)
 * BENCH_TINY=1: 2 runs of 256 x 256 and 512 x 512.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { toCloudOptimizedGeoTiff } from '../src/geo/raster/cog';
import { writeMaskCog } from '../src/geo/raster/mask-cog';
import { writeMaskGeoTiff } from '../src/geo/raster/mask-geotiff';
import type { GeoReference } from '../src/geo/raster/georeference';
import { median } from './bench-util';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .filter((a) => a.includes('='))
    .map((a) => a.split('=') as [string, string]),
);
const TINY = process.env.BENCH_TINY === '1';
const RUNS = Number(args.runs ?? (TINY ? 2 : 30));
const SIZES = TINY ? [256, 512] : [256, 2048];

/** EPSG:32633, 10 m pixels. */
const GEOREF: GeoReference = {
  modelPixelScale: [10, 10, 0],
  modelTiepoint: [0, 0, 0, 600000, 5400000, 0],
  geoKeyDirectory: [1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633, 3076, 0, 1, 9001],
  geoKeys: {},
};

function classMask(size: number, seed: number): Uint8Array {
  let state = seed >>> 0;
  const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const block = 37;
  const across = Math.ceil(size / block);
  const coarse = Array.from({ length: across * across }, () => Math.floor(random() * 4));
  const mask = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      mask[i] =
        x < size / 20
          ? 255
          : random() < 0.01
            ? Math.floor(random() * 4)
            : coarse[Math.floor(y / block) * across + Math.floor(x / block)]!;
    }
  }
  return mask;
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds used so far by this process (all threads) and by its waited-for children. */
function cpuSeconds(): { self: number; children: number } {
  const usage = process.cpuUsage();
  let children = Number.NaN;
  try {
    // Fields after the parenthesised command name; cutime and cstime are fields 16 and 17 of the line.
    const fields = fs.readFileSync('/proc/self/stat', 'latin1').split(') ')[1]!.split(' ');
    children = (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    // Not Linux: child CPU unknown.
  }
  return { self: (usage.user + usage.system) / 1e6, children };
}

interface Measured {
  wall: number[];
  cpu: number[];
  bytes: number;
}

/** One write: wall seconds, CPU seconds (ours and gdal_translate's) and the file's size. */
async function timeOnce(write: () => Promise<string>, into: Measured): Promise<void> {
  const before = cpuSeconds();
  const start = process.hrtime.bigint();
  const file = await write();
  into.wall.push(Number(process.hrtime.bigint() - start) / 1e9);
  const after = cpuSeconds();
  into.cpu.push(after.self - before.self + (Number.isNaN(after.children) ? 0 : after.children - before.children));
  into.bytes = fs.statSync(file).size;
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-mask-cog-'));
  const gdalBinDir = process.env.GDAL_BIN_DIR;
  console.log(
    `node ${process.version}, ${os.cpus().length} CPU(s), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; ${RUNS} runs per size and way, alternating; median wall, mean CPU`,
  );
  try {
    for (const size of SIZES) {
      const mask = classMask(size, size);
      const direct = path.join(tmp, `direct-${size}.tif`);
      const plain = path.join(tmp, `plain-${size}.tif`);
      const translated = path.join(tmp, `gdal-${size}.tif`);
      const writeDirect = async () => {
        await writeMaskCog(direct, mask, size, size, GEOREF, { nodata: 255 });
        return direct;
      };
      const writeThroughGdal = async () => {
        await writeMaskGeoTiff(plain, mask, size, size, GEOREF, { nodata: 255, compression: 'none' });
        await toCloudOptimizedGeoTiff(plain, translated, { gdalBinDir, resampling: 'NEAREST' });
        return translated;
      };
      await writeDirect(); // warm-up (module load, JIT, page cache)
      await writeThroughGdal();
      const ours: Measured = { wall: [], cpu: [], bytes: 0 };
      const gdal: Measured = { wall: [], cpu: [], bytes: 0 };
      // Alternate one run of each so that both see the same machine load.
      for (let i = 0; i < RUNS; i++) {
        await timeOnce(writeDirect, ours);
        await timeOnce(writeThroughGdal, gdal);
      }
      const ms = (seconds: number) => `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
      const line = (label: string, m: Measured) =>
        `  ${label.padEnd(52)} ${ms(median(m.wall)).padStart(10)} wall  ${ms(mean(m.cpu)).padStart(10)} CPU  ${(m.bytes / 1024).toFixed(0).padStart(6)} KiB`;
      console.log(`${size} x ${size} mask:`);
      console.log(line('writeMaskCog', ours));
      console.log(line('writeMaskGeoTiff + gdal_translate -of COG', gdal));
      console.log(
        `  speed-up: ${(median(gdal.wall) / median(ours.wall)).toFixed(1)}x wall, ${(mean(gdal.cpu) / mean(ours.cpu)).toFixed(1)}x CPU`,
      );
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
