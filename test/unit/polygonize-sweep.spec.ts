import {
  MaskPolygonizer,
  polygonizeMask,
  polygonizeRows,
  ringArea,
  type MaskComponent,
} from '../../src/geo/export/polygonize';

/** A reproducible mask of `classes` values: blocks plus single-pixel salt (holes, diagonal touches). */
function randomMask(width: number, height: number, classes: number, seed: number): Uint8Array {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const mask = new Uint8Array(width * height);
  const block = 5;
  const coarse = Array.from({ length: Math.ceil(width / block) * Math.ceil(height / block) }, () =>
    Math.floor(random() * classes),
  );
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      mask[y * width + x] =
        random() < 0.15
          ? Math.floor(random() * classes)
          : coarse[Math.floor(y / block) * Math.ceil(width / block) + Math.floor(x / block)]!;
  return mask;
}

/** 4-connected components by flood fill (the reference): per pixel its component id, and each one's size. */
function floodLabels(mask: Uint8Array, width: number, height: number, skip: Set<number>) {
  const labels = new Int32Array(width * height).fill(-1);
  const sizes: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (labels[start] !== -1 || skip.has(mask[start]!)) continue;
    const id = sizes.length;
    let size = 0;
    const stack = [start];
    labels[start] = id;
    while (stack.length) {
      const index = stack.pop()!;
      size++;
      const x = index % width;
      const y = Math.floor(index / width);
      for (const [nx, ny] of [
        [x + 1, y],
        [x - 1, y],
        [x, y + 1],
        [x, y - 1],
      ] as const) {
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const next = ny * width + nx;
        if (labels[next] === -1 && mask[next] === mask[index]) {
          labels[next] = id;
          stack.push(next);
        }
      }
    }
    sizes.push(size);
  }
  return { labels, sizes };
}

/** Even-odd point in polygon over all rings (exterior and holes). */
function inside(component: MaskComponent, px: number, py: number): boolean {
  let hit = false;
  for (const ring of component.rings)
    for (let i = 0; i + 1 < ring.length; i++) {
      const [x1, y1] = ring[i]!;
      const [x2, y2] = ring[i + 1]!;
      if (y1 > py !== y2 > py && px < x1 + ((py - y1) / (y2 - y1)) * (x2 - x1)) hit = !hit;
    }
  return hit;
}

describe('the row sweep polygonizer', () => {
  it.each([
    [37, 29, 2, 1],
    [64, 48, 3, 7],
    [50, 50, 4, 42],
  ])('gives exactly the flood-fill components of a %ix%i mask (%i classes, seed %i), holes kept', (w, h, k, seed) => {
    const mask = randomMask(w, h, k, seed);
    const skip = new Set([0]);
    const reference = floodLabels(mask, w, h, skip);
    const components = [...polygonizeMask(mask, w, h, { skipValues: skip })];
    expect(components).toHaveLength(reference.sizes.length);
    expect(components.map((c) => c.pixelCount).sort((a, b) => a - b)).toEqual(
      [...reference.sizes].sort((a, b) => a - b),
    );
    expect(components.some((c) => c.rings.length > 1)).toBe(true);
    for (const component of components) {
      expect(ringArea(component.rings[0]!)).toBeGreaterThan(0);
      for (const hole of component.rings.slice(1)) expect(ringArea(hole)).toBeLessThan(0);
      expect(component.rings.reduce((sum, ring) => sum + ringArea(ring), 0)).toBe(component.pixelCount);
    }
    // Every pixel centre lies in exactly the polygon of its own component (skipped pixels in none).
    const owner = new Int32Array(w * h).fill(-1);
    let wrong = 0;
    for (const [index, component] of components.entries()) {
      const [x0, y0] = component.rings[0]![0]!;
      // The top-left corner of the exterior is the top-left corner of one of the component's pixels.
      const id = reference.labels[y0 * w + x0]!;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          if (inside(component, x + 0.5, y + 0.5)) {
            if (owner[y * w + x] !== -1 || reference.labels[y * w + x] !== id) wrong++;
            owner[y * w + x] = index;
          }
    }
    for (let i = 0; i < w * h; i++) if ((owner[i] === -1) !== (reference.labels[i] === -1)) wrong++;
    expect(wrong).toBe(0);
  });

  it('makes one polygon of a component whose parts join only in its last row and yields each as soon as it is done', () => {
    // A comb: one component whose teeth join only in the last row, so its labels merge at the very end.
    const rows = ['1.1.1.1', '1.1.1.1', '1.1.1.1', '1111111', '.......', '..2....'];
    const width = rows[0]!.length;
    const sweep = new MaskPolygonizer(width, rows.length, { skipValues: [0] });
    const byRow = rows.map((row) => sweep.pushRow(row.split('').map((c) => (c === '.' ? 0 : Number(c)))));
    const rest = sweep.finish();
    // The comb ends on row 3 and is complete once row 4 is in; the 2 only at the end.
    expect(byRow.map((done) => done.length)).toEqual([0, 0, 0, 0, 1, 0]);
    expect(byRow[4]![0]).toMatchObject({ value: 1, pixelCount: 19 });
    expect(byRow[4]![0]!.rings).toHaveLength(1);
    expect(rest).toEqual([
      {
        value: 2,
        pixelCount: 1,
        rings: [
          [
            [2, 5],
            [3, 5],
            [3, 6],
            [2, 6],
            [2, 5],
          ],
        ],
      },
    ]);
  });

  it('hands the event loop a turn while sweeping a large mask', async () => {
    const width = 600;
    const height = 600;
    const mask = randomMask(width, height, 3, 3);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    let components = 0;
    try {
      for await (const _ of polygonizeRows((row) => mask.subarray(row * width, (row + 1) * width), width, height, {
        skipValues: [0],
        sliceMs: 10,
      }))
        components++;
    } finally {
      clearInterval(timer);
    }
    expect(components).toBeGreaterThan(1000);
    expect(ticks).toBeGreaterThan(2);
  });
});
