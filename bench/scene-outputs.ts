/**
 * Whole-scene outputs through every step after the model: for class masks of 2,745^2, 5,490^2 and
 * 10,980^2 (a Sentinel-2 MGRS tile at 10 m) written as encodeMaskCog writes them (256 blocks, DEFLATE,
 * nearest overviews), each step runs in a fresh child process, so its peak RSS is its own:
 * - coco:      the exportCoco activity's path (the stored COG read in strips of rows, coco-windowed, JSON).
 * - results:   exportResults' per-task work on the output: vectors (GeoJSON + FlatGeobuf) and the thumbnail.
 * - preview:   exportResults' input preview (python/stac_chip.py preview) of a SIZE^2 x 6 uint16 input.
 * - tiles:     map tiles (TileRenderer, as GET /tiles) at full zoom and at the lowest zooms.
 * - publish:   the built-in publisher (bounds and zooms from the COG's headers).
 * - processor: the generic processor runtime handing the output's path to a processor that reads and writes
 *              by rasterio windows, then the output made a COG (generic-processor's storeOutput).
 * Peak RSS: the node process's own (process.resourceUsage().maxRSS) and the largest process of the step's
 * tree (getrusage RUSAGE_CHILDREN through bench/scene/peak_rss.py; Python children included).
 *
 *   npm run bench:scene-outputs [-- sizes=2745,5490,10980 steps=coco,results,...]
 *   (BENCH_TINY=1: one 1,024^2 scene)   Generated data is cached in ~/.cache/geo-inference/bench.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromFile } from 'geotiff';
import { thumbnail } from '../activities/export-results';
import { CocoBuilder } from '../src/geo/export/coco';
import { addWindowedImage } from '../src/geo/export/coco-windowed';
import { writeVectorFiles } from '../src/geo/export/vector-files';
import { vectorizeMask } from '../src/geo/export/vectors';
import { ProcessorRuntime } from '../src/geo/processors/processor-runtime';
import { withProcessorRun } from '../src/geo/processors/run-processor';
import { BuiltInPublisher } from '../src/geo/publish/publisher';
import { hasFloatSamples, toCloudOptimizedGeoTiff } from '../src/geo/raster/cog';
import { readGeoTiff } from '../src/geo/raster/decode';
import { openMaskRows } from '../src/geo/raster/mask-rows';
import { georefOf } from '../src/geo/raster/geotiff-image';
import { writeMaskCog } from '../src/geo/raster/mask-cog';
import { runChipScript } from '../src/geo/stac/stac-fetch';
import { classColourMap, TileRenderer } from '../src/geo/tiles/cog-tiles';
import { lonLatToMercator, ORIGIN_SHIFT } from '../src/geo/tiles/web-mercator';
import { FilesystemObjectStore } from '../src/platform/storage/filesystem-object-store';
import type { ModelInputDataSpec } from '../workflows/contract/model-spec';
import { PYTHON, repoRoot } from './bench-util';

const args = Object.fromEntries(
  process.argv
    .slice(2)
    .filter((a) => a.includes('='))
    .map((a) => a.split('=') as [string, string]),
);
const TINY = process.env.BENCH_TINY === '1';
const SIZES = (args.sizes ?? (TINY ? '1024' : '2745,5490,10980')).split(',').map(Number);
const STEPS = (args.steps ?? 'coco,results,preview,tiles,publish,processor').split(',');
const NODATA = 255;
const CLASSES = [
  { value: 0, name: 'background', background: true, color: '#3a7d44' },
  { value: 1, name: 'crop', color: '#e0c050' },
  { value: 2, name: 'forest', color: '#1f5f2f' },
  { value: 3, name: 'water', color: '#3060c0' },
];
const SPEC = {
  classes: CLASSES,
  output_nodata: NODATA,
  bands: ['b02', 'b03', 'b04', 'b08', 'b11', 'b12'].map((name) => ({ name })),
} as unknown as ModelInputDataSpec;
const CACHE = path.join(os.homedir(), '.cache', 'geo-inference', 'bench');
const PYTHON_BIN =
  process.env.PYTHON_BIN ||
  (fs.existsSync(path.join(repoRoot(), '.venv/bin/python')) ? path.join(repoRoot(), '.venv/bin/python') : PYTHON);

function generate(kind: 'mask' | 'input', size: number, out: string): void {
  execFileSync(PYTHON_BIN, ['bench/scene/make_scene_outputs.py', kind, String(size), out], {
    cwd: repoRoot(),
    stdio: 'inherit',
  });
}

/** The SIZE^2 x 6 input and the SIZE^2 class mask COG on its grid (generated once, cached). */
async function ensureScene(size: number): Promise<{ input: string; cog: string }> {
  fs.mkdirSync(CACHE, { recursive: true });
  const input = path.join(CACHE, `scene-input-${size}.tif`);
  const cog = path.join(CACHE, `scene-mask-${size}.cog.tif`);
  if (!fs.existsSync(input)) {
    console.log(`generating a ${size} x ${size} x 6 uint16 input (once, cached in ${CACHE}) ...`);
    generate('input', size, `${input}.partial`);
    fs.renameSync(`${input}.partial`, input);
  }
  if (!fs.existsSync(cog)) {
    console.log(`generating a ${size} x ${size} class mask COG (once) ...`);
    const raw = path.join(CACHE, `scene-mask-${size}.u8`);
    generate('mask', size, raw);
    const tiff = await fromFile(input);
    const georef = georefOf(await tiff.getImage(0));
    await tiff.close();
    const mask = new Uint8Array(fs.readFileSync(raw));
    await writeMaskCog(
      `${cog}.partial`,
      mask,
      size,
      size,
      { ...georef, gdalNodata: String(NODATA) },
      {
        nodata: NODATA,
      },
    );
    fs.renameSync(`${cog}.partial`, cog);
    fs.rmSync(raw);
  }
  return { input, cog };
}

type StepResult = Record<string, string | number>;

const STEP_RUNS: Record<string, (scene: { input: string; cog: string }, dir: string) => Promise<StepResult>> = {
  async coco({ cog }) {
    // As exportCoco: the stored mask read in strips of rows (coco-windowed), the dataset as JSON.
    const mask = await openMaskRows(cog, 'output.tif');
    const builder = new CocoBuilder({ classes: CLASSES, skipValues: [NODATA] });
    try {
      await addWindowedImage(builder, {
        fileName: 'output.tif',
        width: mask.width,
        height: mask.height,
        readRows: mask.readRows,
        stripRows: mask.stripRows,
        georef: mask.georef,
      });
    } finally {
      await mask.close();
    }
    const dataset = builder.toJSON();
    const bytes = Buffer.from(JSON.stringify(dataset)).length;
    return { annotations: dataset.annotations.length, json_mb: +(bytes / 1e6).toFixed(1) };
  },
  async results({ cog }, dir) {
    const raster = await readGeoTiff(cog);
    const summary = await writeVectorFiles(vectorizeMask(raster, { classes: CLASSES, skipValues: [NODATA] }), {
      geojsonPath: path.join(dir, 'vectors.geojson'),
      fgbPath: path.join(dir, 'vectors.fgb'),
      epsg: 32633,
    });
    const png = thumbnail(raster, SPEC);
    return { features: summary.features, thumbnail_bytes: png.length };
  },
  async preview({ input }, dir) {
    const made = await runChipScript<{ stretch: number[][] }>(
      { PYTHON_BIN },
      { command: 'preview', source: input, out: path.join(dir, 'preview.tif'), bands: [3, 2, 1], percentiles: [2, 98] },
    );
    return { stretch: JSON.stringify(made.stretch) };
  },
  async tiles({ cog }) {
    const renderer = new TileRenderer();
    const open = () => renderer.raster('scene', () => fromFile(cog));
    const { info } = await open();
    const colours = classColourMap(CLASSES, NODATA);
    const [minX, minY] = lonLatToMercator(info.bounds[0], info.bounds[1]);
    const [maxX, maxY] = lonLatToMercator(info.bounds[2], info.bounds[3]);
    const tileAt = (z: number, fx: number, fy: number): [number, number, number] => {
      const n = 2 ** z;
      const mx = minX + fx * (maxX - minX);
      const my = minY + fy * (maxY - minY);
      return [
        z,
        Math.floor(((mx + ORIGIN_SHIFT) / (2 * ORIGIN_SHIFT)) * n),
        Math.floor(((ORIGIN_SHIFT - my) / (2 * ORIGIN_SHIFT)) * n),
      ];
    };
    const tiles: Array<[number, number, number]> = [];
    for (const z of [info.minzoom, info.minzoom + 1]) tiles.push(tileAt(z, 0.5, 0.5), tileAt(z, 0.1, 0.9));
    for (const [fx, fy] of [
      [0.5, 0.5],
      [0.05, 0.05],
      [0.95, 0.95],
      [0.3, 0.7],
    ] as const)
      tiles.push(tileAt(info.maxzoom, fx, fy));
    let bytes = 0;
    for (const [z, x, y] of tiles) bytes += (await renderer.renderPng(await open(), z, x, y, colours)).png.length;
    return { tiles: tiles.length, zooms: `${info.minzoom}-${info.maxzoom}`, png_kib: +(bytes / 1024).toFixed(1) };
  },
  async publish({ cog }, dir) {
    const store = new FilesystemObjectStore({
      rootDir: dir,
      publicBaseUrl: 'http://localhost',
      signingSecret: 'bench-secret-0123456789',
    });
    fs.mkdirSync(path.join(dir, 'inferences', 'i', 't'), { recursive: true });
    fs.symlinkSync(cog, path.join(dir, 'inferences', 'i', 't', 'output.tif'));
    const result = await new BuiltInPublisher(store).publish({
      inferenceId: 'i',
      taskId: 't',
      modelId: 'm',
      modelDisplayName: 'bench',
      rasterKey: 'inferences/i/t/output.tif',
      geoserverPush: null,
    });
    return { zooms: `${result.minzoom}-${result.maxzoom}` };
  },
  async processor({ cog }, dir) {
    const runtime = new ProcessorRuntime({ pythonBin: PYTHON_BIN, uidBase: 260_000 });
    await runtime.start();
    const limits = {
      timeoutSeconds: 600,
      memoryMb: 1536,
      maxProcesses: 32,
      maxLogBytes: 4 * 1024 * 1024,
      maxOutputBytes: 4 * 1024 * 1024 * 1024,
      tmpMb: 64,
    };
    const spec = {
      scriptFile: path.join(repoRoot(), 'bench', 'scene', 'window_processor.py'),
      scriptName: 'window_processor.py',
      inputFile: cog,
      parameters: {},
    };
    try {
      return await withProcessorRun(runtime, spec, limits, undefined, async (report) => {
        if (report.failure || !report.outputPath) throw new Error(`processor failed: ${report.failure}\n${report.log}`);
        const cogFile = path.join(dir, 'processed-cog.tif');
        const float = await hasFloatSamples(report.outputPath, { gdalBinDir: process.env.GDAL_BIN_DIR });
        await toCloudOptimizedGeoTiff(report.outputPath, cogFile, {
          gdalBinDir: process.env.GDAL_BIN_DIR,
          resampling: float ? 'AVERAGE' : 'NEAREST',
        });
        return { script_ms: report.script_ms ?? -1, cog_mb: +(fs.statSync(cogFile).size / 1e6).toFixed(1) };
      });
    } finally {
      await runtime.close();
    }
  },
};

/** Child process: one step on one scene; its figures as JSON on stdout's last line. */
async function child(step: string, size: number): Promise<void> {
  const scene = await ensureScene(size);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `scene-outputs-${step}-`));
  const start = performance.now();
  try {
    const result = await STEP_RUNS[step]!(scene, dir);
    const seconds = (performance.now() - start) / 1000;
    const rssMib = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(`\n${JSON.stringify({ ...result, seconds, node_rss_mib: rssMib })}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (args.child) return child(args.child, Number(args.size));
  console.log(
    `whole-scene outputs after the model: sizes ${SIZES.join(', ')}, steps ${STEPS.join(', ')}; node ${process.version}, ${os.cpus().length} CPU(s)`,
  );
  for (const size of SIZES) await ensureScene(size);
  const rows: string[] = [
    '| size | step | seconds | node peak RSS MiB | tree peak RSS MiB | figures |',
    '|---|---|---|---|---|---|',
  ];
  for (const size of SIZES) {
    for (const step of STEPS) {
      const run = spawnSync(
        PYTHON_BIN,
        [
          path.join(repoRoot(), 'bench/scene/peak_rss.py'),
          process.execPath,
          __filename,
          `child=${step}`,
          `size=${size}`,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
      );
      const tree = JSON.parse(run.stderr.trim().split('\n').pop()!) as { tree_max_rss_kib: number };
      if (run.status !== 0) {
        console.log(`${size} ${step}: FAILED (exit ${run.status})\n${run.stderr.slice(-2000)}`);
        rows.push(
          `| ${size} | ${step} | failed | | ${(tree.tree_max_rss_kib / 1024).toFixed(0)} | exit ${run.status} |`,
        );
        continue;
      }
      const { seconds, node_rss_mib, ...figures } = JSON.parse(run.stdout.trim().split('\n').pop()!) as StepResult & {
        seconds: number;
        node_rss_mib: number;
      };
      const line = `| ${size} | ${step} | ${seconds.toFixed(2)} | ${node_rss_mib.toFixed(0)} | ${(tree.tree_max_rss_kib / 1024).toFixed(0)} | ${Object.entries(
        figures,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} |`;
      console.log(line);
      rows.push(line);
    }
  }
  console.log(`\n${rows.join('\n')}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
