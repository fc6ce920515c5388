import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CocoBuilder, type CocoAnnotation } from '../../src/geo/export/coco';
import { addWindowedImage } from '../../src/geo/export/coco-windowed';
import { writeCocoJson } from '../../src/geo/export/coco-json';
import { REPO_ROOT, runPython } from '../support/python';

// Unit runs may not have PYTHON_BIN set: the project's venv has scipy.
const VENV_PYTHON = path.join(REPO_ROOT, '.venv', 'bin', 'python');
if (!process.env.PYTHON_BIN && fs.existsSync(VENV_PYTHON)) process.env.PYTHON_BIN = VENV_PYTHON;

const classes = [
  { value: 0, name: 'background', background: true },
  { value: 1, name: 'crop' },
  { value: 2, name: 'forest' },
  { value: 3, name: 'water' },
];

/**
 * A mask whose components cross many 256-row block borders: vertical serpentines of class 1 spanning the
 * whole height, rings of class 2 (holes) with class-2 islands inside their holes (same class, other
 * component), diagonal-only contacts, wavy class-3 blobs, and nodata (255) in a corner.
 */
function crossingMask(width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let value = 0;
      const wave = Math.sin(x / 37) + Math.cos(y / 53) + Math.sin((x + y) / 91);
      if (wave > 1.2) value = 3;
      // Serpentines: 3-pixel-wide columns every 40 px, joined alternately at the top and bottom.
      const column = x % 40;
      if (column < 3 && y > 2 && y < height - 3) value = 1;
      if ((y === 1 || y === 2) && Math.floor(x / 40) % 2 === 0 && column < 43) value = 1;
      if ((y === height - 2 || y === height - 3) && Math.floor(x / 40) % 2 === 1) value = 1;
      // Rings of class 2 with a class-2 island in the hole.
      const rx = x % 90;
      const ry = y % 300;
      const d = Math.max(Math.abs(rx - 60), Math.abs(ry - 150));
      if (d >= 40 && d < 44) value = 2;
      if (d < 6) value = 2;
      // A diagonal checker streak (components touching only at corners).
      if (Math.abs(x - y / 2) < 4 && (x + y) % 2 === 0) value = 2;
      if (x + y < 60) value = 255;
      mask[y * width + x] = value;
    }
  }
  return mask;
}

function wholeAnnotations(mask: Uint8Array, width: number, height: number): CocoAnnotation[] {
  const builder = new CocoBuilder({ classes, skipValues: [255] });
  builder.addImage({ fileName: 'm.tif', width, height, mask });
  return builder.toJSON().annotations;
}

async function windowedAnnotations(
  mask: Uint8Array,
  width: number,
  height: number,
  stripRows: number,
  bitmaskBudgetBytes?: number,
): Promise<CocoAnnotation[]> {
  const builder = new CocoBuilder({ classes, skipValues: [255] });
  let reads = 0;
  await addWindowedImage(
    builder,
    {
      fileName: 'm.tif',
      width,
      height,
      stripRows,
      readRows: async (y0, y1) => {
        reads += 1;
        return mask.slice(y0 * width, y1 * width);
      },
    },
    bitmaskBudgetBytes === undefined ? {} : { bitmaskBudgetBytes },
  );
  expect(reads).toBeGreaterThanOrEqual(2 * Math.ceil(height / stripRows)); // two passes at least, by strips
  return builder.toJSON().annotations;
}

describe('COCO of a mask read in strips (coco-windowed)', () => {
  const width = 450;
  const height = 1300; // crosses five 256-row borders
  const mask = crossingMask(width, height);

  it('gives exactly the whole-mask annotations, whatever the strip height and bit-mask budget', async () => {
    const whole = wholeAnnotations(mask, width, height);
    expect(whole.length).toBeGreaterThan(50);
    expect(whole.some((a) => a.iscrowd === 1)).toBe(true); // rings: components with holes
    // Components taller than a block, i.e. crossing 256-row borders.
    expect(whole.filter((a) => a.bbox[3] > 256).length).toBeGreaterThanOrEqual(5);
    expect(await windowedAnnotations(mask, width, height, 256)).toEqual(whole);
    expect(await windowedAnnotations(mask, width, height, 1)).toEqual(whole);
    // A small bit-mask budget: the components in several passes.
    expect(await windowedAnnotations(mask, width, height, 97, 20_000)).toEqual(whole);
  });

  it('finds the components scipy.ndimage.label finds (4-connectivity), one per component across strip borders', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coco-windowed-'));
    try {
      const file = path.join(dir, 'mask.u8');
      fs.writeFileSync(file, mask);
      const reference = JSON.parse(
        await runPython('test/support/label_components.py', [file, String(width), String(height), '[1,2,3]']),
      ) as Record<string, number[][]>;
      const annotations = await windowedAnnotations(mask, width, height, 256);
      for (const [categoryId, value] of [
        [1, 1],
        [2, 2],
        [3, 3],
      ]) {
        const ours = annotations
          .filter((a) => a.category_id === categoryId)
          .map((a) => [a.area, ...a.bbox])
          .sort((a, b) => a[2]! - b[2]! || a[1]! - b[1]! || a[0]! - b[0]!);
        const theirs = reference[String(value)]!.map(([, area, x, y, w, h]) => [area!, x!, y!, w!, h!]).sort(
          (a, b) => a[2]! - b[2]! || a[1]! - b[1]! || a[0]! - b[0]!,
        );
        expect(ours.length).toBeGreaterThan(0);
        expect(ours).toEqual(theirs);
      }
      // Some components cross three or more 256-row borders.
      expect(annotations.filter((a) => a.bbox[3] > 3 * 256).length).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes the dataset as JSON.stringify does, piece by piece (writeCocoJson)', async () => {
    const builder = new CocoBuilder({ classes, skipValues: [255] });
    builder.addImage({ fileName: 'm.tif', width, height, mask });
    const dataset = builder.toJSON();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coco-json-'));
    try {
      const file = path.join(dir, 'coco.json');
      await writeCocoJson(dataset, file);
      expect(fs.readFileSync(file, 'utf8')).toBe(JSON.stringify(dataset));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
