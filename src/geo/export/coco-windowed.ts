/**
 * COCO annotations of a class mask too large to hold whole (a 10,980^2 Sentinel-2 tile), read in strips of
 * rows. The result is the one CocoBuilder.addImage gives for the whole mask in memory (same components, same
 * order, same polygons and RLE), in memory bounded by a strip, one row of labels per provisional label's
 * statistics, and bit masks of the components' bounding boxes:
 * 1. The strips are labelled with a union-find over provisional labels that keeps only the previous row's
 *    labels, so a component crossing any number of strip borders stays one component; each provisional label
 *    keeps its area, bounding box and first pixel, merged per component at the end.
 * 2. The strips are read again and labelled the same way (new provisional labels arise at the same pixels, so
 *    every pixel finds its component's root); each pixel is set in its component's bounding-box bit mask.
 *    Components whose bit masks do not fit in the budget together are done in further passes.
 * 3. Each component's outline (or RLE when it has holes) is traced from its bit mask as addImage does.
 */
import type { GeoReference } from '../raster/georeference';
import {
  CocoExportError,
  componentRunsOf,
  encodeRle,
  geoOf,
  traceRingsOf,
  type CocoAnnotation,
  type CocoBuilder,
  type CocoImage,
} from './coco';

/** Rows y0..y1-1 of the mask, row-major, width * (y1 - y0) values. */
export type MaskRowReader = (y0: number, y1: number) => Promise<Uint8Array>;

export interface WindowedMaskInput {
  fileName: string;
  width: number;
  height: number;
  readRows: MaskRowReader;
  /** Rows per strip read (default 256, a COG block row). */
  stripRows?: number;
  georef?: GeoReference;
  extra?: Record<string, unknown>;
}

/** Bytes of component bit masks held at once (default 64 MiB: every component of a 10,980^2 tile's bbox area / 8 twice over). */
export const COCO_BITMASK_BUDGET_BYTES = 64 * 1024 * 1024;

class GrowableInt32 {
  data = new Int32Array(1024);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }
}

interface WindowedComponent {
  root: number;
  value: number;
  area: number;
  /** x0, y0, x1, y1 inclusive. */
  box: [number, number, number, number];
  /** Scan index (y * width + x) of the component's first pixel: components are listed in this order. */
  first: number;
}

/**
 * One pass over the strips: 4-connected labelling that keeps only the previous row. A provisional label is
 * created (`onNewLabel`) exactly where a wanted pixel has no same-valued left or upper neighbour, so every
 * pass creates the same labels at the same pixels; `union` (pass 1) joins labels that meet.
 */
async function labelStrips(
  input: WindowedMaskInput,
  wanted: Uint8Array,
  onNewLabel: (label: number, x: number, y: number, value: number) => void,
  union: ((a: number, b: number) => void) | null,
  visit: (x: number, y: number, label: number) => void,
  heartbeat?: () => void,
): Promise<void> {
  const { width, height } = input;
  const stripRows = input.stripRows ?? 256;
  let previousValues = new Uint8Array(width);
  let previousLabels = new Int32Array(width);
  let rowLabels = new Int32Array(width);
  let next = 1;
  for (let y0 = 0; y0 < height; y0 += stripRows) {
    const y1 = Math.min(height, y0 + stripRows);
    const strip = await input.readRows(y0, y1);
    if (strip.length !== width * (y1 - y0))
      throw new CocoExportError(
        `${input.fileName}: rows ${y0}-${y1} have ${strip.length} values, expected ${width * (y1 - y0)}`,
      );
    for (let y = y0; y < y1; y++) {
      const offset = (y - y0) * width;
      for (let x = 0; x < width; x++) {
        const value = strip[offset + x]!;
        if (!wanted[value]) {
          rowLabels[x] = 0;
          continue;
        }
        const left = x > 0 && strip[offset + x - 1] === value ? rowLabels[x - 1]! : 0;
        const up = y > 0 && previousValues[x] === value ? previousLabels[x]! : 0;
        let label: number;
        if (left && up) {
          if (union && left !== up) union(left, up);
          label = left;
        } else if (left || up) {
          label = left || up;
        } else {
          label = next++;
          onNewLabel(label, x, y, value);
        }
        rowLabels[x] = label;
        visit(x, y, label);
      }
      previousValues = strip.slice(offset, offset + width);
      [previousLabels, rowLabels] = [rowLabels, previousLabels];
    }
    heartbeat?.();
  }
}

/**
 * The image and annotations CocoBuilder.addImage makes for the whole mask, from strips of rows
 * (`imageId`, annotation ids from `firstAnnotationId`; `categoryByValue`: mask value -> category id).
 */
export async function annotateWindowedMask(
  input: WindowedMaskInput,
  imageId: number,
  firstAnnotationId: number,
  categoryByValue: ReadonlyMap<number, number>,
  options: { bitmaskBudgetBytes?: number; heartbeat?: () => void } = {},
): Promise<{ image: CocoImage; annotations: CocoAnnotation[] }> {
  const { width, height } = input;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
    throw new CocoExportError(`${input.fileName}: invalid size ${width} x ${height}`);
  const image: CocoImage = { ...(input.extra ?? {}), id: imageId, file_name: input.fileName, width, height };
  if (input.georef) image.geo = geoOf(input.georef);
  const wanted = new Uint8Array(256);
  for (const value of categoryByValue.keys()) wanted[value] = 1;

  // Pass 1: union-find over provisional labels; area, bounding box, first pixel and value per label.
  const parent = new GrowableInt32();
  const area = new GrowableInt32();
  const minX = new GrowableInt32();
  const minY = new GrowableInt32();
  const maxX = new GrowableInt32();
  const maxY = new GrowableInt32();
  const first = new GrowableInt32();
  const valueOf = new GrowableInt32();
  const columns = [parent, area, minX, minY, maxX, maxY, first, valueOf];
  for (const column of columns) column.push(0); // label 0: not annotated
  const find = (a: number): number => {
    const p = parent.data;
    while (p[a] !== a) {
      p[a] = p[p[a]!]!;
      a = p[a]!;
    }
    return a;
  };
  await labelStrips(
    input,
    wanted,
    (label, x, y, value) => {
      parent.push(label);
      area.push(0);
      minX.push(x);
      minY.push(y);
      maxX.push(x);
      maxY.push(y);
      first.push(y * width + x);
      valueOf.push(value);
    },
    (a, b) => {
      const ra = find(a);
      const rb = find(b);
      if (ra !== rb) parent.data[Math.max(ra, rb)] = Math.min(ra, rb);
    },
    (x, y, label) => {
      area.data[label]! += 1;
      if (x < minX.data[label]!) minX.data[label] = x;
      else if (x > maxX.data[label]!) maxX.data[label] = x;
      maxY.data[label] = y;
    },
    options.heartbeat,
  );

  // Per component (root): the statistics of its labels merged; listed by first pixel, as addImage does.
  const byRoot = new Map<number, WindowedComponent>();
  for (let label = 1; label < parent.length; label++) {
    const root = find(label);
    let component = byRoot.get(root);
    if (!component) {
      component = {
        root,
        value: valueOf.data[label]!,
        area: 0,
        box: [width, height, -1, -1],
        first: first.data[label]!,
      };
      byRoot.set(root, component);
    }
    component.area += area.data[label]!;
    const box = component.box;
    if (minX.data[label]! < box[0]) box[0] = minX.data[label]!;
    if (minY.data[label]! < box[1]) box[1] = minY.data[label]!;
    if (maxX.data[label]! > box[2]) box[2] = maxX.data[label]!;
    if (maxY.data[label]! > box[3]) box[3] = maxY.data[label]!;
    if (first.data[label]! < component.first) component.first = first.data[label]!;
  }
  for (const column of [area, minX, minY, maxX, maxY, first, valueOf]) column.data = new Int32Array(0);
  const components = [...byRoot.values()].sort((a, b) => a.first - b.first);
  byRoot.clear();

  // Passes 2...: bounding-box bit masks of as many components as the budget holds, then their outlines.
  const budget = options.bitmaskBudgetBytes ?? COCO_BITMASK_BUDGET_BYTES;
  const slotOfRoot = new Int32Array(parent.length).fill(-1);
  const annotations: CocoAnnotation[] = [];
  for (let start = 0; start < components.length;) {
    const batch: WindowedComponent[] = [];
    let bytes = 0;
    while (start < components.length) {
      const [x0, y0, x1, y1] = components[start]!.box;
      const size = Math.ceil(((x1 - x0 + 1) * (y1 - y0 + 1)) / 8);
      if (batch.length > 0 && bytes + size > budget) break;
      batch.push(components[start++]!);
      bytes += size;
    }
    const bits = batch.map((component) => {
      const [x0, y0, x1, y1] = component.box;
      return new Uint8Array(Math.ceil(((x1 - x0 + 1) * (y1 - y0 + 1)) / 8));
    });
    batch.forEach((component, slot) => (slotOfRoot[component.root] = slot));
    await labelStrips(
      input,
      wanted,
      () => undefined,
      null,
      (x, y, label) => {
        const slot = slotOfRoot[find(label)]!;
        if (slot < 0) return;
        const [x0, y0, x1] = batch[slot]!.box;
        const bit = (y - y0) * (x1 - x0 + 1) + (x - x0);
        bits[slot]![bit >> 3]! |= 1 << (bit & 7);
      },
      options.heartbeat,
    );
    batch.forEach((component, slot) => {
      slotOfRoot[component.root] = -1;
      const [x0, y0, x1, y1] = component.box;
      const boxWidth = x1 - x0 + 1;
      const mask = bits[slot]!;
      const member = (x: number, y: number) => {
        if (x < x0 || x > x1 || y < y0 || y > y1) return false;
        const bit = (y - y0) * boxWidth + (x - x0);
        return (mask[bit >> 3]! & (1 << (bit & 7))) !== 0;
      };
      const bbox: [number, number, number, number] = [x0, y0, boxWidth, y1 - y0 + 1];
      const rings = traceRingsOf(member, bbox, width, height);
      const base = {
        id: firstAnnotationId + annotations.length,
        image_id: imageId,
        category_id: categoryByValue.get(component.value)!,
        area: component.area,
        bbox,
      };
      // A 4-connected component has one outer ring; any further ring is a hole (RLE, as addImage).
      if (rings.length === 1) annotations.push({ ...base, segmentation: [rings[0]!.coordinates], iscrowd: 0 });
      else
        annotations.push({
          ...base,
          segmentation: encodeRle(componentRunsOf(member, bbox, width, height), height, width),
          iscrowd: 1,
        });
      bits[slot] = new Uint8Array(0);
    });
  }
  return { image, annotations };
}

/** CocoBuilder.addImage for a mask read in strips of rows (see annotateWindowedMask). */
export function addWindowedImage(
  builder: CocoBuilder,
  input: WindowedMaskInput,
  options: { bitmaskBudgetBytes?: number; heartbeat?: () => void } = {},
): Promise<CocoImage> {
  return builder.addAnnotatedImage((imageId, firstAnnotationId, categoryByValue) =>
    annotateWindowedMask(input, imageId, firstAnnotationId, categoryByValue, options),
  );
}
