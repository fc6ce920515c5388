/**
 * Windowed reads of a whole scene: openWindowedGeoTiff (ranged reads of the filesystem store) over full-width
 * strips, against decodeGeoTiff of the whole file where it fits. Input: a generated 6-band uint16 GeoTIFF,
 * tiled 512, deflate + predictor 2 (python/bench_windowed_scene.py, written strip by strip), default a whole
 * Sentinel-2 MGRS tile (10980 x 10980). Each side runs in its own child process, so each peak RSS
 * (process.resourceUsage().maxRSS) is its own. Prints MB/s of decoded pixels, peak RSS, and whether the
 * per-strip checksums of both sides are equal.
 *
 *   npm run bench:windowed-read [-- --size 2745] [--rows 1024] [--whole | --no-whole]
 *   (whole-file decode by default only up to 5490 x 5490; BENCH_TINY=1: 512 x 512)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readGeoTiff } from '../src/geo/raster/decode';
import { openWindowedGeoTiff, storedByteSource } from '../src/geo/raster/windowed-geotiff';
import { FilesystemObjectStore } from '../src/platform/storage/filesystem-object-store';
import { python } from './bench-util';

const KEY = 'scenes/scene.tif';

interface SideResult {
  side: 'windowed' | 'whole';
  seconds: number;
  decodedBytes: number;
  maxRssMiB: number;
  strips: string[];
}

function argValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function maxRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

/** One child: reads the scene one way, prints a JSON line. */
async function child(side: 'windowed' | 'whole', root: string, rows: number): Promise<void> {
  const store = new FilesystemObjectStore({
    rootDir: root,
    publicBaseUrl: 'http://127.0.0.1',
    signingSecret: 'bench-windowed-read-secret',
  });
  const strips: string[] = [];
  const start = process.hrtime.bigint();
  let decodedBytes = 0;
  if (side === 'windowed') {
    const tiff = await openWindowedGeoTiff(await storedByteSource(store, KEY), KEY);
    for (let y = 0; y < tiff.height; y += rows) {
      const strip = await tiff.readWindow({ x: 0, y, w: tiff.width, h: Math.min(rows, tiff.height - y) });
      const hash = createHash('sha256');
      for (const band of strip.bands) hash.update(new Uint8Array(band.buffer, band.byteOffset, band.byteLength));
      strips.push(hash.digest('hex').slice(0, 16));
      decodedBytes += strip.bands.reduce((sum, band) => sum + band.byteLength, 0);
    }
    await tiff.close();
  } else {
    const raster = await readGeoTiff(store.pathOf(KEY));
    for (let y = 0; y < raster.height; y += rows) {
      const h = Math.min(rows, raster.height - y);
      const hash = createHash('sha256');
      for (const band of raster.bands) {
        const rowsOf = band.subarray(y * raster.width, (y + h) * raster.width);
        hash.update(new Uint8Array(rowsOf.buffer, rowsOf.byteOffset, rowsOf.byteLength));
      }
      strips.push(hash.digest('hex').slice(0, 16));
    }
    decodedBytes = raster.bands.reduce((sum, band) => sum + band.byteLength, 0);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const result: SideResult = { side, seconds, decodedBytes, maxRssMiB: maxRssMiB(), strips };
  console.log(JSON.stringify(result));
}

function runChild(side: 'windowed' | 'whole', root: string, rows: number): SideResult {
  const out = execFileSync(process.execPath, [__filename, '--child', side, root, String(rows)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as SideResult;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    await child(process.argv[3] as 'windowed' | 'whole', process.argv[4]!, Number(process.argv[5]));
    return;
  }
  const tiny = process.env.BENCH_TINY === '1';
  const size = Number(argValue('--size') ?? (tiny ? 512 : 10980));
  const rows = Number(argValue('--rows') ?? 1024);
  const whole = process.argv.includes('--whole') || (!process.argv.includes('--no-whole') && size <= 5490);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-windowed-'));
  try {
    const file = path.join(root, ...KEY.split('/'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const made = process.hrtime.bigint();
    python([path.join('python', 'bench_windowed_scene.py'), file, '--size', String(size)]);
    const fileMb = fs.statSync(file).size / 1e6;
    const rawMb = (size * size * 6 * 2) / 1e6;
    console.log(
      `input: ${size}x${size}x6 uint16, tiled 512, deflate+predictor 2: ${fileMb.toFixed(1)} MB on disk, ${rawMb.toFixed(1)} MB decoded (written in ${(Number(process.hrtime.bigint() - made) / 1e9).toFixed(1)} s)`,
    );
    console.log(
      `node ${process.version}, ${os.cpus().length} CPU(s), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; strips of ${rows} full-width rows`,
    );
    const windowed = runChild('windowed', root, rows);
    const line = (r: SideResult, label: string) =>
      console.log(
        `${label.padEnd(36)} ${r.seconds.toFixed(2).padStart(7)} s  ${(r.decodedBytes / 1e6 / r.seconds).toFixed(0).padStart(5)} MB/s decoded  peak RSS ${r.maxRssMiB.toFixed(0).padStart(5)} MiB`,
      );
    line(windowed, `openWindowedGeoTiff, ${windowed.strips.length} strips`);
    if (whole) {
      const full = runChild('whole', root, rows);
      line(full, 'decodeGeoTiff of the whole file');
      const equal =
        full.strips.length === windowed.strips.length && full.strips.every((s, i) => s === windowed.strips[i]);
      console.log(
        `strip checksums equal: ${equal ? 'yes' : 'NO'} (${windowed.strips.length} strips, sha256 per strip)`,
      );
      console.log(
        `windowed/whole: time ${(windowed.seconds / full.seconds).toFixed(2)}x, peak RSS ${(windowed.maxRssMiB / full.maxRssMiB).toFixed(2)}x`,
      );
      if (!equal) process.exitCode = 1;
    } else {
      console.log('decodeGeoTiff of the whole file: skipped (pass --whole to decode the whole scene in memory)');
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
