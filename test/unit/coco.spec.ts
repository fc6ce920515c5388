import { buildCoco, CocoExportError, decodeRleCounts, encodeRle, runLengths } from '../../src/geo/export/coco';

const classes = [
  { value: 0, name: 'clear', background: true },
  { value: 1, name: 'cloud' },
  { value: 2, name: 'shadow' },
];

function maskFrom(rows: string[]): { mask: Uint8Array; width: number; height: number } {
  const height = rows.length;
  const width = rows[0]!.length;
  return { mask: Uint8Array.from(rows.join('').split('').map(Number)), width, height };
}

describe('COCO RLE encoding (vectors from pycocotools 2.0.11)', () => {
  it('encodes a 4x5 mask with rows 1-2, cols 1-3 set as "5220003"', () => {
    const { mask, width, height } = maskFrom(['00000', '01110', '01110', '00000']);
    const counts = runLengths(mask, width, height);
    expect(counts).toEqual([5, 2, 2, 2, 2, 2, 5]);
    expect(encodeRle(counts, height, width)).toEqual({ size: [4, 5], counts: '5220003' });
  });

  it('encodes the polygon [0,0,10,0,0,10] on 20x20 (45 pixels) as "09;O1O1O1O1O1O1O1Om6"', () => {
    // pycocotools' rasterisation of that triangle: pixel (x, y) is in when x + y <= 8.
    const width = 20;
    const height = 20;
    const mask = new Uint8Array(width * height).map((_, i) => ((i % width) + Math.floor(i / width) <= 8 ? 1 : 0));
    expect(mask.reduce((a, b) => a + b, 0)).toBe(45);
    const rle = encodeRle(runLengths(mask, width, height), height, width);
    expect(rle.counts).toBe('09;O1O1O1O1O1O1O1Om6');
    expect(decodeRleCounts(rle.counts)).toEqual(runLengths(mask, width, height));
  });

  it('round-trips large and negative deltas', () => {
    const counts = [0, 70000, 3, 1, 65000, 2, 1];
    expect(decodeRleCounts(encodeRle(counts, 1, 135007).counts)).toEqual(counts);
  });
});

describe('buildCoco', () => {
  it('gives one polygon annotation per 4-connected component, traced along pixel edges', () => {
    const { mask, width, height } = maskFrom([
      '000000', //
      '011020',
      '010022',
      '000100', // diagonal to (1,2)'s component: separate component
    ]);
    const coco = buildCoco([{ fileName: 'a.tif', width, height, mask }], { classes });
    expect(coco.categories).toEqual([
      { id: 1, name: 'cloud', supercategory: 'class', pixel_value: 1 },
      { id: 2, name: 'shadow', supercategory: 'class', pixel_value: 2 },
    ]);
    expect(coco.images).toEqual([{ id: 1, file_name: 'a.tif', width: 6, height: 4 }]);
    const byBox = coco.annotations.map(({ category_id, bbox, area, iscrowd, segmentation }) => ({
      category_id,
      bbox,
      area,
      iscrowd,
      segmentation,
    }));
    expect(byBox).toEqual([
      { category_id: 1, bbox: [1, 1, 2, 2], area: 3, iscrowd: 0, segmentation: [[3, 1, 3, 2, 2, 2, 2, 3, 1, 3, 1, 1]] },
      { category_id: 2, bbox: [4, 1, 2, 2], area: 3, iscrowd: 0, segmentation: [[5, 1, 5, 2, 6, 2, 6, 3, 4, 3, 4, 1]] },
      { category_id: 1, bbox: [3, 3, 1, 1], area: 1, iscrowd: 0, segmentation: [[4, 3, 4, 4, 3, 4, 3, 3]] },
    ]);
  });

  it('writes a component with a hole as RLE with iscrowd 1', () => {
    const { mask, width, height } = maskFrom(['11111', '10001', '10101', '11111']);
    const coco = buildCoco([{ fileName: 'ring.tif', width, height, mask }], { classes });
    // The centre pixel (2,2) is 4-connected to the bottom row: one component around a 3-pixel hole.
    expect(coco.annotations).toHaveLength(1);
    const [annotation] = coco.annotations;
    expect(annotation).toMatchObject({ iscrowd: 1, area: 15, bbox: [0, 0, 5, 4] });
    const rle = annotation!.segmentation as { size: number[]; counts: string };
    expect(rle.size).toEqual([4, 5]);
    expect(decodeRleCounts(rle.counts)).toEqual(runLengths(mask, width, height));
  });

  it('skips nodata and background values and rejects bad input with a clear error', () => {
    const { mask, width, height } = maskFrom(['0000', '0000']);
    mask[1] = 255; // nodata
    const coco = buildCoco([{ fileName: 'n.tif', width, height, mask }], { classes, skipValues: [255] });
    expect(coco.annotations).toEqual([]);
    expect(() => buildCoco([{ fileName: 'x.tif', width: 3, height: 3, mask: new Uint8Array(8) }], { classes })).toThrow(
      new CocoExportError('x.tif: mask has 8 values, expected 3 x 3 = 9'),
    );
    expect(() =>
      buildCoco([], {
        classes: [
          { value: 1, name: 'a' },
          { value: 1, name: 'b' },
        ],
      }),
    ).toThrow(/two classes share the value 1/);
  });
});
