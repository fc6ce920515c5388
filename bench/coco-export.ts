/**
 * COCO export speed: 1,000 class masks of 256 x 256 through CocoBuilder (components, boundary tracing,
 * RLE for components with holes) and JSON serialisation. Masks are synthetic cloud-mask-like scenes:
 * smooth blobs of 3 classes plus a little salt noise (many small components, the costly case).
 *
 *   npm run bench:coco [-- MASKS [NOISE]]      (default 1000 masks, noise 0.01; BENCH_TINY=1: 20 masks)
 */
import * as os from 'node:os';
import { CocoBuilder } from '../src/geo/export/coco';
import { median } from './bench-util';

function syntheticMask(size: number, seed: number, noise: number): Uint8Array {
  let state = (seed * 2654435761) >>> 0;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const blobs = Array.from(
    { length: 10 },
    () => [random() * size, random() * size, 8 + random() * 40, 1 + Math.floor(random() * 3)] as const,
  );
  const mask = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let value = 0;
      for (const [cx, cy, r, v] of blobs) if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) value = v;
      if (random() < noise) value = Math.floor(random() * 4);
      mask[y * size + x] = value;
    }
  }
  return mask;
}

function run(
  masks: Uint8Array[],
  size: number,
): { build: number; json: number; bytes: number; annotations: number; rles: number } {
  const classes = [
    { value: 0, name: 'clear', background: true },
    { value: 1, name: 'cloud' },
    { value: 2, name: 'cloud_shadow' },
    { value: 3, name: 'haze' },
  ];
  const start = process.hrtime.bigint();
  const builder = new CocoBuilder({ classes, skipValues: [255] });
  masks.forEach((mask, i) => builder.addImage({ fileName: `mask-${i}.tif`, width: size, height: size, mask }));
  const dataset = builder.toJSON();
  const built = process.hrtime.bigint();
  const text = JSON.stringify(dataset);
  const done = process.hrtime.bigint();
  return {
    build: Number(built - start) / 1e9,
    json: Number(done - built) / 1e9,
    bytes: Buffer.byteLength(text),
    annotations: dataset.annotations.length,
    rles: dataset.annotations.filter((a) => a.iscrowd === 1).length,
  };
}

function main(): void {
  const count = Number(process.argv[2] ?? (process.env.BENCH_TINY === '1' ? 20 : 1000));
  const noise = Number(process.argv[3] ?? 0.01);
  const size = 256;
  console.log(
    `COCO export: ${count} masks of ${size}x${size}, salt noise ${noise}; node ${process.version}, ${os.cpus().length} CPU(s)`,
  );
  const masks = Array.from({ length: count }, (_, i) => syntheticMask(size, i + 1, noise));
  run(masks.slice(0, 20), size); // warm-up (JIT)
  const runs = Array.from({ length: 3 }, () => run(masks, size));
  const last = runs[runs.length - 1]!;
  const build = median(runs.map((r) => r.build));
  const json = median(runs.map((r) => r.json));
  console.log(
    `annotations: ${last.annotations} (${last.rles} RLE for components with holes), JSON ${(last.bytes / 1e6).toFixed(1)} MB`,
  );
  console.log(
    `build ${build.toFixed(2)} s (${((build / count) * 1000).toFixed(2)} ms/mask, ${(count / build).toFixed(0)} masks/s), JSON.stringify ${json.toFixed(2)} s, total ${(build + json).toFixed(2)} s (median of 3)`,
  );
}

main();
