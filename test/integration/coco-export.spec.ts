import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildCoco, type CocoMaskInput } from '../../src/geo/export/coco';
import { readGeoTiff } from '../../src/geo/raster/decode';
import { writeMaskGeoTiff } from '../../src/geo/raster/mask-geotiff';
import { runPython } from '../support/python';

const classes = [
  { value: 0, name: 'clear', background: true },
  { value: 1, name: 'cloud', color: '#ffffff' },
  { value: 2, name: 'cloud_shadow', color: '#555555' },
  { value: 3, name: 'water' },
];

/** Deterministic pseudo-random masks: smooth blobs of 4 classes with holes, diagonal touches, single pixels and nodata. */
function syntheticMask(width: number, height: number, seed: number): Uint8Array {
  let state = seed * 2654435761;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const centres = Array.from(
    { length: 12 },
    () => [random() * width, random() * height, 3 + random() * 20, Math.floor(random() * 4)] as const,
  );
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let best = 0;
      for (const [cx, cy, r, value] of centres) if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) best = value;
      if (random() < 0.03) best = Math.floor(random() * 4); // salt: single pixels, pinches, holes
      if (x < 3 && y < 3) best = 255; // a nodata corner
      mask[y * width + x] = best;
    }
  }
  // A ring with a hole and a checkerboard patch (diagonal-only neighbours) in every mask.
  for (let y = 2; y < 9; y++)
    for (let x = width - 10; x < width - 3; x++)
      mask[y * width + x] = y === 2 || y === 8 || x === width - 10 || x === width - 4 ? 2 : 0;
  for (let y = height - 8; y < height - 2; y++) for (let x = 4; x < 10; x++) mask[y * width + x] = (x + y) % 2 ? 3 : 1;
  return mask;
}

/** COCO export checked by pycocotools: every annotation's annToMask, per class unions, areas and georeferencing. */
describe('COCO export validated with pycocotools', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coco-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reproduces every mask exactly (polygons along pixel edges, RLE for components with holes)', async () => {
    const source = await readGeoTiff(path.join(__dirname, '..', 'fixtures', 'raster-uint8-raw.tif'));
    const inputs: CocoMaskInput[] = [];
    const manifest: Record<string, string> = {};
    for (let i = 0; i < 12; i++) {
      const width = 64 + 17 * i;
      const height = 48 + 11 * i;
      const mask = syntheticMask(width, height, i + 1);
      const file = path.join(dir, `mask-${i}.tif`);
      await writeMaskGeoTiff(file, mask, width, height, source.georef, { nodata: 255 });
      inputs.push({
        fileName: `mask-${i}.tif`,
        width,
        height,
        mask,
        georef: source.georef,
        extra: { task_id: `task-${i}` },
      });
      manifest[`mask-${i}.tif`] = file;
    }
    const coco = buildCoco(inputs, { classes, skipValues: [255] });
    fs.writeFileSync(path.join(dir, 'coco.json'), JSON.stringify(coco));
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));

    const report = JSON.parse(
      (await runPython('test/support/validate_coco.py', [path.join(dir, 'coco.json'), path.join(dir, 'manifest.json')]))
        .trim()
        .split('\n')
        .pop()!,
    );
    expect(report.problems).toEqual([]);
    expect(report.images).toBe(12);
    expect(report.annotations).toBe(coco.annotations.length);
    expect(report.polygons).toBeGreaterThan(100);
    expect(report.rles).toBeGreaterThan(0); // the rings with holes
    // Sum of annotation areas per category == the masks' pixel counts of that class.
    expect(report.category_pixels).toEqual(report.mask_pixels);
    expect(Object.keys(report.mask_pixels).sort()).toEqual(['1', '2', '3']);
    expect(coco.categories.map((c) => c.name)).toEqual(['cloud', 'cloud_shadow', 'water']);
    expect(coco.images[0]).toMatchObject({ task_id: 'task-0', geo: { epsg: expect.any(Number) } });
  });
});
