/**
 * COCO instance-segmentation export of class masks (https://cocodataset.org/#format-data).
 *
 * Each 4-connected component of a class becomes one annotation. Its outline is traced along pixel edges
 * (vertices on integer pixel-corner coordinates), so rasterising the polygon with pycocotools gives back
 * exactly the component's pixels. COCO polygons cannot carry holes (pycocotools unions the polygons of an
 * annotation), so a component with holes is written as compressed RLE with iscrowd 1 instead.
 * No npm package implements COCO RLE; the encoder below follows pycocotools' maskApi.c (rleToString) and
 * is checked against vectors produced by pycocotools 2.0.11.
 */
import type { ModelClassSpec } from '../../../workflows/contract/model-spec';
import { affineOf, epsgOf, type GeoReference } from '../raster/georeference';

export interface CocoRle {
  size: [number, number];
  counts: string;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  segmentation: number[][] | CocoRle;
  area: number;
  bbox: [number, number, number, number];
  iscrowd: 0 | 1;
}

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
  /** Extension: where the image lies on Earth. */
  geo?: {
    crs: string | null;
    epsg: number | null;
    /** GDAL order: [originX, pixelWidth, rowRotation, originY, columnRotation, pixelHeight] (pixel corners). */
    geotransform: [number, number, number, number, number, number] | null;
  };
  [extra: string]: unknown;
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory: string;
  /** Extension: the class's value in the output masks. */
  pixel_value: number;
  color?: string;
}

export interface CocoDataset {
  info: { description: string; version: string; date_created: string };
  licenses: unknown[];
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

export interface CocoMaskInput {
  fileName: string;
  width: number;
  height: number;
  /** Class value per pixel, row-major. */
  mask: Uint8Array;
  georef?: GeoReference;
  /** Extra fields copied onto the COCO image (e.g. task_id). */
  extra?: Record<string, unknown>;
}

export interface CocoExportOptions {
  classes: ModelClassSpec[];
  /** Mask values that are never annotated: nodata and background classes. */
  skipValues?: number[];
  description?: string;
}

export class CocoExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CocoExportError';
  }
}

/** Builds one COCO dataset from masks added one at a time (the masks themselves are not kept). */
export class CocoBuilder {
  private readonly images: CocoImage[] = [];
  private readonly annotations: CocoAnnotation[] = [];
  private readonly categories: CocoCategory[];
  private readonly categoryByValue = new Map<number, number>();
  private readonly description: string;

  constructor(options: CocoExportOptions) {
    const skip = new Set(options.skipValues ?? []);
    const seen = new Set<number>();
    this.categories = [];
    for (const entry of options.classes) {
      if (!Number.isInteger(entry.value) || entry.value < 0 || entry.value > 255)
        throw new CocoExportError(
          `class ${JSON.stringify(entry.name)} has value ${entry.value}; masks are uint8 (0-255)`,
        );
      if (seen.has(entry.value)) throw new CocoExportError(`two classes share the value ${entry.value}`);
      seen.add(entry.value);
      if (skip.has(entry.value) || entry.background) continue;
      const id = this.categories.length + 1; // COCO category ids start at 1
      this.categories.push({
        id,
        name: entry.name,
        supercategory: 'class',
        pixel_value: entry.value,
        ...(entry.color ? { color: entry.color } : {}),
      });
      this.categoryByValue.set(entry.value, id);
    }
    this.description = options.description ?? 'geo-inference COCO export';
  }

  addImage(input: CocoMaskInput): CocoImage {
    const { width, height, mask } = input;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
      throw new CocoExportError(`${input.fileName}: invalid size ${width} x ${height}`);
    if (mask.length !== width * height)
      throw new CocoExportError(
        `${input.fileName}: mask has ${mask.length} values, expected ${width} x ${height} = ${width * height}`,
      );
    const imageId = this.images.length + 1;
    const image: CocoImage = { ...(input.extra ?? {}), id: imageId, file_name: input.fileName, width, height };
    if (input.georef) image.geo = geoOf(input.georef);
    this.images.push(image);
    for (const component of connectedComponents(mask, width, height, this.categoryByValue)) {
      const categoryId = this.categoryByValue.get(component.value)!;
      const rings = traceRings(component.labels, component.label, component.bbox, width, height);
      const base = {
        id: this.annotations.length + 1,
        image_id: imageId,
        category_id: categoryId,
        area: component.area,
        bbox: component.bbox,
      };
      // A 4-connected component has one outer ring; any further ring is a hole.
      if (rings.length === 1) {
        this.annotations.push({ ...base, segmentation: [rings[0]!.coordinates], iscrowd: 0 });
      } else {
        // Holes: a COCO polygon list cannot subtract them, RLE is exact.
        this.annotations.push({
          ...base,
          segmentation: encodeRle(
            componentRuns(component.labels, component.label, component.bbox, width, height),
            height,
            width,
          ),
          iscrowd: 1,
        });
      }
    }
    return image;
  }

  /**
   * Adds an image whose annotations `annotate` makes (numbered from the ids it is given, with this builder's
   * mask value -> category id map): the windowed path for masks too large to hold (coco-windowed.ts).
   */
  async addAnnotatedImage(
    annotate: (
      imageId: number,
      firstAnnotationId: number,
      categoryByValue: ReadonlyMap<number, number>,
    ) => Promise<{ image: CocoImage; annotations: CocoAnnotation[] }>,
  ): Promise<CocoImage> {
    const { image, annotations } = await annotate(
      this.images.length + 1,
      this.annotations.length + 1,
      this.categoryByValue,
    );
    this.images.push(image);
    for (const annotation of annotations) this.annotations.push(annotation);
    return image;
  }

  toJSON(): CocoDataset {
    return {
      info: { description: this.description, version: '1.0', date_created: new Date().toISOString() },
      licenses: [],
      images: this.images,
      annotations: this.annotations,
      categories: this.categories,
    };
  }
}

/** One-shot form of CocoBuilder. */
export function buildCoco(masks: Iterable<CocoMaskInput>, options: CocoExportOptions): CocoDataset {
  const builder = new CocoBuilder(options);
  for (const mask of masks) builder.addImage(mask);
  return builder.toJSON();
}

export function geoOf(georef: GeoReference): NonNullable<CocoImage['geo']> {
  const epsg = epsgOf(georef);
  const affine = affineOf(georef);
  return {
    crs: epsg === null ? null : `EPSG:${epsg}`,
    epsg,
    geotransform: affine ? [affine[2], affine[0], affine[1], affine[5], affine[3], affine[4]] : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Connected components (4-connectivity, two-pass union-find)
// ---------------------------------------------------------------------------------------------

interface Component {
  value: number;
  label: number;
  area: number;
  bbox: [number, number, number, number];
  labels: Int32Array;
}

function connectedComponents(
  mask: Uint8Array,
  width: number,
  height: number,
  wanted: Map<number, number>,
): Component[] {
  const labels = new Int32Array(width * height); // 0 = not annotated
  const parent: number[] = [0];
  const find = (a: number): number => {
    while (parent[a] !== a) {
      parent[a] = parent[parent[a]!]!;
      a = parent[a]!;
    }
    return a;
  };
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const value = mask[i]!;
      if (!wanted.has(value)) continue;
      const left = x > 0 && mask[i - 1] === value ? labels[i - 1]! : 0;
      const up = y > 0 && mask[i - width] === value ? labels[i - width]! : 0;
      if (left && up) {
        const a = find(left);
        const b = find(up);
        labels[i] = Math.min(a, b);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      } else if (left || up) {
        labels[i] = left || up;
      } else {
        labels[i] = parent.length;
        parent.push(parent.length);
      }
    }
  }
  const byRoot = new Map<number, Component>();
  const components: Component[] = [];
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      if (!labels[i]) continue;
      const root = find(labels[i]!);
      labels[i] = root;
      let component = byRoot.get(root);
      if (!component) {
        component = { value: mask[i]!, label: root, area: 0, bbox: [x, y, x, y], labels };
        byRoot.set(root, component);
        components.push(component);
      }
      component.area += 1;
      const box = component.bbox;
      if (x < box[0]) box[0] = x;
      if (x > box[2]) box[2] = x;
      box[3] = y;
    }
  }
  for (const component of components) {
    const [x0, y0, x1, y1] = component.bbox;
    component.bbox = [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
  }
  return components;
}

// ---------------------------------------------------------------------------------------------
// Boundary tracing along pixel edges
// ---------------------------------------------------------------------------------------------

export interface Ring {
  /** [x0, y0, x1, y1, ...] at pixel corners; only the corners where the direction changes. */
  coordinates: number[];
  /** > 0 for outer rings (clockwise on screen, y down), < 0 for holes; |area| in pixels. */
  signedArea: number;
}

// Directions E, S, W, N; an edge from corner (x, y) in direction d has its component pixel on the right.
const DX = [1, 0, -1, 0];
const DY = [0, 1, 0, -1];

/**
 * All boundary rings of one component: every ring has an eastward edge (the top edge of a component pixel
 * whose upper neighbour is outside), so scanning those finds outer ring and holes alike. At a corner where
 * two pixels of the component touch only diagonally the trace turns right, keeping them apart (4-connectivity).
 */
function traceRings(
  labels: Int32Array,
  label: number,
  bbox: [number, number, number, number],
  width: number,
  height: number,
): Ring[] {
  return traceRingsOf((x, y) => labels[y * width + x] === label, bbox, width, height);
}

/** traceRings of the component whose pixels (x, y), inside the image, are those where `member` is true. */
export function traceRingsOf(
  member: (x: number, y: number) => boolean,
  bbox: [number, number, number, number],
  width: number,
  height: number,
): Ring[] {
  const inside = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && member(x, y);
  // The pixel right of / left of an edge leaving corner (x, y) in direction d.
  const rightPixel = (x: number, y: number, d: number): [number, number] =>
    d === 0 ? [x, y] : d === 1 ? [x - 1, y] : d === 2 ? [x - 1, y - 1] : [x, y - 1];
  const leftPixel = (x: number, y: number, d: number): [number, number] =>
    d === 0 ? [x, y - 1] : d === 1 ? [x, y] : d === 2 ? [x - 1, y] : [x - 1, y - 1];
  const isEdge = (x: number, y: number, d: number) => inside(...rightPixel(x, y, d)) && !inside(...leftPixel(x, y, d));
  const visitedEast = new Set<number>();
  const rings: Ring[] = [];
  const [bx, by, bw, bh] = bbox;
  for (let y = by; y < by + bh; y++) {
    for (let x = bx; x < bx + bw; x++) {
      if (!member(x, y) || inside(x, y - 1) || visitedEast.has(y * (width + 1) + x)) continue;
      rings.push(traceFrom(x, y));
    }
  }
  return rings;

  function traceFrom(sx: number, sy: number): Ring {
    const coordinates: number[] = [];
    let x = sx;
    let y = sy;
    let d = 0;
    let twiceArea = 0;
    do {
      if (d === 0) visitedEast.add(y * (width + 1) + x);
      const nx = x + DX[d]!;
      const ny = y + DY[d]!;
      twiceArea += x * ny - nx * y;
      x = nx;
      y = ny;
      // Prefer a right turn, then straight on, then left (a boundary never reverses).
      const right = (d + 1) % 4;
      const left = (d + 3) % 4;
      const next = isEdge(x, y, right) ? right : isEdge(x, y, d) ? d : left;
      if (next !== d) coordinates.push(x, y);
      d = next;
    } while (!(x === sx && y === sy && d === 0));
    return { coordinates, signedArea: twiceArea / 2 };
  }
}

// ---------------------------------------------------------------------------------------------
// Run-length encoding (pycocotools' format: column-major runs starting with a run of 0s)
// ---------------------------------------------------------------------------------------------

/** Column-major run lengths of one component (alternating out / in, starting with out). */
function componentRuns(
  labels: Int32Array,
  label: number,
  bbox: [number, number, number, number],
  width: number,
  height: number,
): number[] {
  return componentRunsOf((x, y) => labels[y * width + x] === label, bbox, width, height);
}

/** componentRuns of the component whose pixels are those where `member` is true. */
export function componentRunsOf(
  member: (x: number, y: number) => boolean,
  bbox: [number, number, number, number],
  width: number,
  height: number,
): number[] {
  const counts: number[] = [];
  let previousEnd = 0; // column-major index after the last "in" run
  const [bx, by, bw, bh] = bbox;
  for (let x = bx; x < bx + bw; x++) {
    let y = by;
    while (y < by + bh) {
      if (!member(x, y)) {
        y += 1;
        continue;
      }
      const start = x * height + y;
      while (y < by + bh && member(x, y)) y += 1;
      const end = x * height + y;
      if (start === previousEnd && counts.length > 0) {
        counts[counts.length - 1]! += end - start; // continues the run from the previous column
      } else {
        counts.push(start - previousEnd, end - start);
      }
      previousEnd = end;
    }
  }
  if (counts.length === 0) counts.push(width * height);
  else if (previousEnd < width * height) counts.push(width * height - previousEnd);
  return counts;
}

/** Run lengths (column-major, starting with 0s) of a binary row-major mask. */
export function runLengths(binary: ArrayLike<number>, width: number, height: number): number[] {
  if (binary.length !== width * height)
    throw new CocoExportError(`mask has ${binary.length} values, expected ${width * height}`);
  const counts: number[] = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const value = binary[y * width + x] ? 1 : 0;
      if (value !== current) {
        counts.push(run);
        run = 0;
        current = value;
      }
      run += 1;
    }
  }
  counts.push(run);
  return counts;
}

/** Compressed COCO RLE string, as pycocotools' rleToString: LEB128-like 5-bit groups, offset by 48, runs delta-coded from i > 2. */
export function encodeRle(counts: number[], height: number, width: number): CocoRle {
  let text = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]!;
    if (i > 2) x -= counts[i - 2]!;
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5; // arithmetic shift, as the C code's signed long
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      text += String.fromCharCode(c + 48);
    }
  }
  return { size: [height, width], counts: text };
}

/** Decodes a compressed COCO RLE string back into run lengths (pycocotools rleFrString). */
export function decodeRleCounts(counts: string): number[] {
  const out: number[] = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      const c = counts.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (out.length > 2) x += out[out.length - 2]!;
    out.push(x);
  }
  return out;
}
