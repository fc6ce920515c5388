/**
 * GeoTIFF I/O: readGeoTiff / writeMaskGeoTiff against GDAL (rasterio), same files, same run.
 * Input: 6-band 2048 x 2048 uint16, tiled 256, deflate + horizontal predictor (made by GDAL).
 * Prints median times, MB/s of decoded pixels and the ratios.
 *
 *   npm run bench:geotiff [-- N]      (default 5 runs; BENCH_SIZE, default 2048; BENCH_TINY=1: 512, one run)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readGeoTiff } from '../src/geo/raster/decode';
import { writeMaskGeoTiff } from '../src/geo/raster/mask-geotiff';
import type { Raster } from '../src/geo/raster/raster';
import { median, python } from './bench-util';

async function main(): Promise<void> {
  const tiny = process.env.BENCH_TINY === '1';
  const n = Number(process.argv[2] ?? (tiny ? 1 : 5));
  const size = Number(process.env.BENCH_SIZE ?? (tiny ? 512 : 2048));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-geotiff-'));
  try {
    const input = path.join(tmp, 'input.tif');
    python([path.join('python', 'bench_gdal_io.py'), 'create', input, '--size', String(size)]);
    const fileMb = fs.statSync(input).size / 1e6;
    const rawMb = (size * size * 6 * 2) / 1e6;
    console.log(
      `input: ${size}x${size}x6 uint16, tiled 256, deflate+predictor 2: ${fileMb.toFixed(1)} MB on disk, ${rawMb.toFixed(1)} MB decoded; ${n} runs each, median`,
    );
    console.log(
      `node ${process.version}, ${os.cpus().length} CPU(s), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`,
    );

    const reads: number[] = [];
    let raster: Raster | undefined;
    await readGeoTiff(input); // warm-up (module load, JIT)
    for (let i = 0; i < n; i++) {
      const start = process.hrtime.bigint();
      raster = await readGeoTiff(input);
      reads.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
    const r = raster!;
    const nir = r.bands[3]!;
    const blue = r.bands[0]!;
    const mask = new Uint8Array(size * size);
    for (let i = 0; i < mask.length; i++) mask[i] = nir[i]! > 2500 ? 1 : blue[i]! > 4000 ? 2 : 0;
    const writes: number[] = [];
    const ourMask = path.join(tmp, 'mask-node.tif');
    for (let i = 0; i < n; i++) {
      const start = process.hrtime.bigint();
      await writeMaskGeoTiff(ourMask, mask, size, size, r.georef, { nodata: 255 });
      writes.push(Number(process.hrtime.bigint() - start) / 1e9);
    }

    const gdal = JSON.parse(
      python([path.join('python', 'bench_gdal_io.py'), 'run', input, path.join(tmp, 'mask-gdal.tif'), String(n)])
        .trim()
        .split('\n')
        .pop()!,
    );
    const maskMb = (size * size) / 1e6;
    const line = (label: string, seconds: number, mb: number) =>
      `${label.padEnd(44)} ${(seconds * 1000).toFixed(0).padStart(6)} ms  ${(mb / seconds).toFixed(0).padStart(6)} MB/s`;
    const nodeRead = median(reads);
    const gdalRead = median(gdal.read_s);
    const gdalReadThreads = median(gdal.read_threads_s);
    const nodeWrite = median(writes);
    const gdalWrite = median(gdal.write_s);
    console.log(line('read  readGeoTiff (geotiff.js + native zlib)', nodeRead, rawMb));
    console.log(line('read  GDAL/rasterio', gdalRead, rawMb));
    console.log(line('read  GDAL/rasterio, GDAL_NUM_THREADS=ALL_CPUS', gdalReadThreads, rawMb));
    console.log(line('write writeMaskGeoTiff (uint8 mask, deflate)', nodeWrite, maskMb));
    console.log(line('write GDAL/rasterio (uint8 mask, deflate)', gdalWrite, maskMb));
    console.log(
      `read time ratio node/GDAL: ${(nodeRead / gdalRead).toFixed(2)}x (vs threaded GDAL ${(nodeRead / gdalReadThreads).toFixed(2)}x); target <= 2x`,
    );
    console.log(
      `write time ratio node/GDAL: ${(nodeWrite / gdalWrite).toFixed(2)}x; our mask ${(fs.statSync(ourMask).size / 1e3).toFixed(0)} kB, GDAL's ${(fs.statSync(path.join(tmp, 'mask-gdal.tif')).size / 1e3).toFixed(0)} kB`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
