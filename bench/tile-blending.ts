/**
 * Cost of overlap blending on one large scene: the same raster through OnnxSegmenter with tile_blending center,
 * linear and cosine (alternating rounds, best of each), and how many pixels blending changes.
 *
 *   npm run bench:blending [-- SIZE]      (default 2048: 81 tiles of 256 overlapping by 32; BENCH_TINY=1: 512)
 * Prints figures; not a test.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_TILE_BLENDING, type ModelInputDataSpec, type TileBlending } from '../workflows/contract/model-spec';
import { ModelThreadPool } from '../src/geo/model/model-thread';
import { readGeoTiff } from '../src/geo/raster/decode';
import { OnnxSegmenter } from '../src/geo/model/segmentation';
import { python, repoRoot } from './bench-util';

async function main(): Promise<void> {
  const size = Number(process.argv[2] ?? (process.env.BENCH_TINY === '1' ? 512 : 2048));
  const modelPath = process.env.DEMO_MODEL_PATH;
  if (!modelPath || !fs.existsSync(modelPath)) throw new Error('set DEMO_MODEL_PATH to ukis-csmask model_6b_l2a.onnx');
  const spec: ModelInputDataSpec = JSON.parse(
    fs.readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'csmask-6b-l2a.spec.json'), 'utf8'),
  );
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-blending-'));
  const threads = new ModelThreadPool(1);
  try {
    const sample = path.join(tmp, 'scene.tif');
    python([path.join('python', 'make_sample_geotiff.py'), sample, '--size', String(size)]);
    const raster = await readGeoTiff(sample);
    const modes: TileBlending[] = ['center', 'linear', 'cosine'];
    const segmenters = new Map<TileBlending, OnnxSegmenter>();
    for (const mode of modes)
      segmenters.set(mode, await OnnxSegmenter.load(threads, modelPath, { ...spec, tile_blending: mode }));
    const tiles = segmenters.get('center')!.plan(raster.width, raster.height).length;
    console.log(
      `${size} x ${size} x ${raster.bandCount}, ${tiles} tiles of ${spec.tile_size} (overlap ${spec.tile_overlap}), ${os.availableParallelism()} CPU(s), default ${DEFAULT_TILE_BLENDING}`,
    );
    await segmenters.get('center')!.segment(raster); // warm-up
    const best = new Map<TileBlending, number>();
    const masks = new Map<TileBlending, Uint8Array>();
    for (let round = 0; round < 3; round++) {
      for (const mode of modes) {
        const started = performance.now();
        masks.set(mode, await segmenters.get(mode)!.segment(raster));
        const seconds = (performance.now() - started) / 1000;
        best.set(mode, Math.min(best.get(mode) ?? Infinity, seconds));
      }
    }
    const center = masks.get('center')!;
    for (const mode of modes) {
      const mask = masks.get(mode)!;
      let changed = 0;
      for (let i = 0; i < mask.length; i++) if (mask[i] !== center[i]) changed++;
      console.log(
        `${mode.padEnd(7)} ${best.get(mode)!.toFixed(2)} s (best of 3), ${(tiles / best.get(mode)!).toFixed(2)} tiles/s, ${(best.get(mode)! / best.get('center')!).toFixed(3)}x center's time, ${((100 * changed) / mask.length).toFixed(3)} % of pixels differ from center`,
      );
    }
  } finally {
    await threads.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
