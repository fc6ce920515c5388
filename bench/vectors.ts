/**
 * Vector export speed: one large class mask (a whole Sentinel-2 tile is 10980 x 10980) polygonized and
 * written as GeoJSON (WGS 84) and FlatGeobuf (UTM, with its spatial index), as the results export does; prints
 * the peak RSS and the longest event-loop stall (the export heartbeats between turns). The mask is synthetic and
 * cloud-mask-like: blocky class regions plus salt noise (many small components and holes, the costly case).
 *
 *   npm run bench:vectors [-- SIZE [NOISE]]     (default 10980, noise 0.002; BENCH_TINY=1: 1024)
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { vectorizeMask } from '../src/geo/export/vectors';
import { writeVectorFiles } from '../src/geo/export/vector-files';
import type { Raster } from '../src/geo/raster/raster';

function syntheticMask(size: number, noise: number): Uint8Array {
  let state = 12345;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const block = 61;
  const across = Math.ceil(size / block);
  const coarse = Uint8Array.from({ length: across * across }, () => Math.floor(random() * 3));
  const mask = new Uint8Array(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      mask[y * size + x] =
        random() < noise ? Math.floor(random() * 3) : coarse[Math.floor(y / block) * across + Math.floor(x / block)]!;
  return mask;
}

async function main(): Promise<void> {
  const size = Number(process.argv[2] ?? (process.env.BENCH_TINY === '1' ? 1024 : 10980));
  const noise = Number(process.argv[3] ?? 0.002);
  console.log(
    `vectors: ${size}x${size} mask, salt noise ${noise}; node ${process.version}, ${os.cpus().length} CPU(s)`,
  );
  const raster: Raster = {
    width: size,
    height: size,
    bandCount: 1,
    dataType: 'uint8',
    bands: [syntheticMask(size, noise)],
    nodata: 255,
    georef: {
      modelPixelScale: [10, 10, 0],
      modelTiepoint: [0, 0, 0, 600000, 5400000, 0],
      geoKeys: { ProjectedCSTypeGeoKey: 32633, GTRasterTypeGeoKey: 1 },
    },
  };
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'bench-vectors-'));
  try {
    const heapBefore = process.memoryUsage().rss;
    // The longest the event loop went without a turn (heartbeats need turns): a 10 ms timer's worst lateness.
    let longestStall = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longestStall = Math.max(longestStall, now - last - 10);
      last = now;
    }, 10);
    const start = process.hrtime.bigint();
    const summary = await writeVectorFiles(
      vectorizeMask(raster, {
        classes: [
          { value: 0, name: 'clear', background: true },
          { value: 1, name: 'cloud' },
          { value: 2, name: 'cloud_shadow' },
        ],
        skipValues: [255],
      }),
      { geojsonPath: path.join(dir, 'v.geojson'), fgbPath: path.join(dir, 'v.fgb'), epsg: 32633 },
    );
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    clearInterval(timer);
    const [geojson, fgb] = await Promise.all(['v.geojson', 'v.fgb'].map((f) => fsp.stat(path.join(dir, f))));
    console.log(
      `${summary.features} polygons in ${seconds.toFixed(2)} s (${((size * size) / seconds / 1e6).toFixed(1)} Mpixel/s, ${(summary.features / seconds).toFixed(0)} polygons/s)`,
    );
    console.log(
      `GeoJSON ${(geojson!.size / 1e6).toFixed(1)} MB, FlatGeobuf ${(fgb!.size / 1e6).toFixed(1)} MB (spatial index included); longest event-loop stall ${longestStall.toFixed(0)} ms; peak RSS ${(process.resourceUsage().maxRSS / 1e3).toFixed(0)} MB (before: ${(heapBefore / 1e6).toFixed(0)} MB with the ${((size * size) / 1e6).toFixed(0)} MB mask)`,
    );
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

void main();
