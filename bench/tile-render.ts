/**
 * Map tile rendering speed: 256 x 256 PNG tiles (EPSG:3857) from a 10,000 x 10,000 class-mask COG in
 * EPSG:32633 (10 m pixels, DEFLATE, 256 blocks, nearest overviews: what model-inference writes), through the
 * TileRenderer the /tiles route uses, reading the file directly as the filesystem store does.
 *
 * Cold: a fresh process (nothing opened, empty caches, unoptimised code) renders random tiles across the
 * zoom levels from the coarsest overview's zoom to one past full resolution; warm: the same tiles again.
 *
 *   npm run bench:tiles [-- tiles=300 size=10000]      (BENCH_TINY=1: 20 tiles of a 2048 x 2048 COG)
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromFile } from 'geotiff';
import { toCloudOptimizedGeoTiff } from '../src/geo/raster/cog';
import { classColourMap, TileRenderer } from '../src/geo/tiles/cog-tiles';
import { lonLatToMercator, ORIGIN_SHIFT } from '../src/geo/tiles/web-mercator';
import { PYTHON, repoRoot } from './bench-util';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .filter((a) => a.includes('='))
    .map((a) => a.split('=') as [string, string]),
);
const TINY = process.env.BENCH_TINY === '1';
const TILES = Number(args.tiles ?? (TINY ? 20 : 300));
const SIZE = Number(args.size ?? (TINY ? 2048 : 10_000));
const CLASSES = [
  { value: 0, name: 'clear', color: '#3a7d44' },
  { value: 1, name: 'cloud', color: '#f0f0f0' },
  { value: 2, name: 'cloud_shadow', color: '#4b4b6b' },
  { value: 3, name: 'water' },
];

async function ensureCog(): Promise<string> {
  const dir = path.join(os.homedir(), '.cache', 'geo-inference', 'bench');
  const cog = path.join(dir, `tiles-mask-${SIZE}.cog.tif`);
  if (fs.existsSync(cog)) return cog;
  fs.mkdirSync(dir, { recursive: true });
  const plain = path.join(dir, `tiles-mask-${SIZE}.tif`);
  console.log(`generating a ${SIZE} x ${SIZE} class mask COG (once, cached in ${dir}) ...`);
  execFileSync(
    PYTHON,
    ['test/support/make_class_mask.py', plain, '--width', String(SIZE), '--height', String(SIZE), '--seed', '5'],
    { cwd: repoRoot(), stdio: 'inherit' },
  );
  await toCloudOptimizedGeoTiff(plain, `${cog}.partial`, { gdalBinDir: process.env.GDAL_BIN_DIR });
  fs.renameSync(`${cog}.partial`, cog);
  fs.rmSync(plain);
  return cog;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Figures {
  tilesPerSecond: number;
  p50: number;
  p99: number;
  bytes: number;
}

/** Renders the tiles one after another (latency), as the API does per request. */
async function pass(
  renderer: TileRenderer,
  open: () => ReturnType<TileRenderer['raster']>,
  tiles: Array<[number, number, number]>,
): Promise<Figures> {
  const colours = classColourMap(CLASSES, 255);
  const latencies: number[] = [];
  let bytes = 0;
  const start = performance.now();
  for (const [z, x, y] of tiles) {
    const t0 = performance.now();
    const raster = await open();
    const { png } = await renderer.renderPng(raster, z, x, y, colours);
    latencies.push(performance.now() - t0);
    bytes += png.length;
  }
  const total = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return {
    tilesPerSecond: (tiles.length / total) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    bytes,
  };
}

/** Child process: one cold and one warm pass over the tiles in `list`, figures as JSON on stdout. */
async function child(cog: string, list: string): Promise<void> {
  const tiles = JSON.parse(fs.readFileSync(list, 'utf8')) as Array<[number, number, number]>;
  const renderer = new TileRenderer();
  const open = () => renderer.raster('bench', () => fromFile(cog));
  const cold = await pass(renderer, open, tiles);
  const warm = await pass(renderer, open, tiles);
  process.stdout.write(JSON.stringify({ cold, warm }));
}

/** Random tiles over the raster (seeded), zooms from the coarsest overview's to one past full resolution. */
async function randomTiles(cog: string): Promise<{ tiles: Array<[number, number, number]>; zooms: [number, number] }> {
  const renderer = new TileRenderer();
  const raster = await renderer.raster('probe', () => fromFile(cog));
  const { info } = raster;
  await raster.close();
  let state = 12345;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const [minX, minY] = lonLatToMercator(info.bounds[0], info.bounds[1]);
  const [maxX, maxY] = lonLatToMercator(info.bounds[2], info.bounds[3]);
  const tiles: Array<[number, number, number]> = [];
  for (let i = 0; i < TILES; i++) {
    const z = info.minzoom + Math.floor(random() * (info.maxzoom + 2 - info.minzoom));
    const n = 2 ** z;
    const mx = minX + random() * (maxX - minX);
    const my = minY + random() * (maxY - minY);
    tiles.push([
      z,
      Math.floor(((mx + ORIGIN_SHIFT) / (2 * ORIGIN_SHIFT)) * n),
      Math.floor(((ORIGIN_SHIFT - my) / (2 * ORIGIN_SHIFT)) * n),
    ]);
  }
  return { tiles, zooms: [info.minzoom, info.maxzoom + 1] };
}

async function main(): Promise<void> {
  if (args.child) return child(args.child, args.list!);
  const cog = await ensureCog();
  const { tiles, zooms } = await randomTiles(cog);
  const list = path.join(os.tmpdir(), `tile-bench-${process.pid}.json`);
  fs.writeFileSync(list, JSON.stringify(tiles));
  // A fresh process for the cold pass: no opened file, empty caches, unoptimised code.
  const figures = JSON.parse(
    execFileSync(process.execPath, [__filename, `child=${cog}`, `list=${list}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  fs.rmSync(list, { force: true });
  const mb = (fs.statSync(cog).size / 1e6).toFixed(1);
  console.log(
    `COG ${SIZE} x ${SIZE} (${mb} MB), EPSG:32633, zooms ${zooms[0]}-${zooms[1]}, ${TILES} random tiles, ${os.cpus().length} cores, node ${process.version}`,
  );
  for (const phase of ['cold', 'warm'] as const) {
    const f = figures[phase] as Figures;
    console.log(
      `${phase}: ${f.tilesPerSecond.toFixed(1)} tiles/s, p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms (${(f.bytes / TILES / 1024).toFixed(1)} KiB/tile)`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
