/**
 * Class mask -> polygons, one per 4-connected component of equal value (GDAL's default connectedness), with
 * holes. Works on the whole mask, so a component crossing the model's internal tile borders is one polygon.
 * Rings follow pixel edges exactly (rasterizing a polygon back gives its pixels) and are yielded component by
 * component as soon as the scan has passed a component's last row, so callers can stream them out.
 */

/** A ring of pixel-corner coordinates [col, row], closed (first point repeated at the end). */
export type PixelRing = Array<[number, number]>;

export interface MaskComponent {
  value: number;
  pixelCount: number;
  /** Exterior ring first, then the holes; in pixel-corner coordinates. */
  rings: PixelRing[];
}

export interface PolygonizeOptions {
  /** Values that are not polygonized (background classes, nodata). */
  skipValues?: Iterable<number>;
}

// Directions of boundary edges, clockwise on screen (rows grow downwards): E, S, W, N.
const DX = [1, 0, -1, 0] as const;
const DY = [0, 1, 0, -1] as const;

/**
 * Labels 4-connected components of equal, polygonized values (two-pass union-find). Label 0: skipped pixel.
 * Returns the labels (1-based, dense), each label's value, pixel count and last row.
 */
function labelComponents(mask: ArrayLike<number>, width: number, height: number, skip: Set<number>) {
  const labels = new Int32Array(width * height);
  // Skipped values as a table for the usual integer masks (a Set lookup per pixel is several times slower).
  const skipTable = new Uint8Array(65536);
  for (const value of skip) if (Number.isInteger(value) && value >= 0 && value < 65536) skipTable[value] = 1;
  const skipped = (value: number) =>
    Number.isInteger(value) && value >= 0 && value < 65536 ? skipTable[value] === 1 : skip.has(value);
  let parent = new Int32Array(1024);
  let next = 1;
  const find = (label: number): number => {
    let root = label;
    while (parent[root] !== root) root = parent[root]!;
    while (parent[label] !== root) {
      const up = parent[label]!;
      parent[label] = root;
      label = up;
    }
    return root;
  };
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const index = row * width + col;
      const value = mask[index]!;
      if (skipped(value)) continue;
      const left = col > 0 && mask[index - 1] === value ? labels[index - 1]! : 0;
      const up = row > 0 && mask[index - width] === value ? labels[index - width]! : 0;
      if (left && up) {
        if (left === up) {
          labels[index] = left;
          continue;
        }
        const a = find(left);
        const b = find(up);
        labels[index] = a < b ? a : b;
        if (a !== b) parent[a < b ? b : a] = a < b ? a : b;
      } else if (left || up) {
        labels[index] = left || up;
      } else {
        if (next === parent.length) {
          const grown = new Int32Array(parent.length * 2);
          grown.set(parent);
          parent = grown;
        }
        parent[next] = next;
        labels[index] = next++;
      }
    }
  }
  // Second pass: dense final labels in scan order of each component's first pixel.
  const dense = new Int32Array(next);
  const values: number[] = [0];
  const counts: number[] = [0];
  const lastRows: number[] = [0];
  for (let index = 0; index < labels.length; index++) {
    const provisional = labels[index]!;
    if (provisional === 0) continue;
    const root = find(provisional);
    if (dense[root] === 0) {
      dense[root] = values.length;
      values.push(mask[index]!);
      counts.push(0);
      lastRows.push(0);
    }
    const label = dense[root]!;
    labels[index] = label;
    counts[label]!++;
    lastRows[label] = Math.floor(index / width);
  }
  return { labels, values, counts, lastRows };
}

/**
 * The mask's components in order of their last row (then of their first pixel). Each boundary edge is walked
 * once, with the component on its right; at a vertex shared diagonally by two pixels of one value the walk
 * turns right, so diagonal neighbours stay apart (4-connectivity) and rings never cross.
 */
export function* polygonizeMask(
  mask: ArrayLike<number>,
  width: number,
  height: number,
  options: PolygonizeOptions = {},
): Generator<MaskComponent> {
  const skip = new Set(options.skipValues ?? []);
  const { labels, values, counts, lastRows } = labelComponents(mask, width, height, skip);
  // Allocation-free helpers: they run for every pixel edge.
  const labelAt = (col: number, row: number) =>
    col < 0 || row < 0 || col >= width || row >= height ? 0 : labels[row * width + col]!;
  // Whether the edge leaving vertex (x, y) in direction d has `label` on its right and another on its left.
  const isBoundary = (x: number, y: number, d: number, label: number): boolean => {
    switch (d) {
      case 0:
        return labelAt(x, y) === label && labelAt(x, y - 1) !== label;
      case 1:
        return labelAt(x - 1, y) === label && labelAt(x, y) !== label;
      case 2:
        return labelAt(x - 1, y - 1) === label && labelAt(x - 1, y) !== label;
      default:
        return labelAt(x, y - 1) === label && labelAt(x - 1, y - 1) !== label;
    }
  };
  // Edges walked, 4 bits per pixel: bit d for the edge of that pixel walked in direction d.
  const walked = new Uint8Array(width * height);
  const markWalked = (x: number, y: number, d: number) => {
    const index =
      d === 0 ? y * width + x : d === 1 ? y * width + x - 1 : d === 2 ? (y - 1) * width + x - 1 : (y - 1) * width + x;
    walked[index]! |= 1 << d;
  };

  const traceRing = (startX: number, startY: number, startD: number, label: number): PixelRing => {
    const ring: PixelRing = [[startX, startY]];
    let x = startX;
    let y = startY;
    let d = startD;
    for (;;) {
      markWalked(x, y, d);
      x += DX[d]!;
      y += DY[d]!;
      if (x === startX && y === startY) break;
      // Right turn first, then straight on, then left.
      const next = isBoundary(x, y, (d + 1) & 3, label)
        ? (d + 1) & 3
        : isBoundary(x, y, d, label)
          ? d
          : isBoundary(x, y, (d + 3) & 3, label)
            ? (d + 3) & 3
            : -1;
      if (next < 0) throw new Error(`polygonize: open ring at (${x}, ${y})`);
      if (next !== d) ring.push([x, y]);
      d = next;
    }
    // The start is a corner unless the last edge runs on in the start direction.
    if (d === startD) ring.shift();
    ring.push([ring[0]![0], ring[0]![1]]);
    return ring;
  };

  const rings = new Map<number, { exterior?: PixelRing; holes: PixelRing[] }>();
  const byLastRow = new Map<number, number[]>();
  for (let label = 1; label < values.length; label++) {
    const row = lastRows[label]!;
    const list = byLastRow.get(row);
    if (list) list.push(label);
    else byLastRow.set(row, [label]);
  }
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const index = row * width + col;
      const label = labels[index]!;
      if (label === 0) continue;
      for (let d = 0; d < 4; d++) {
        if (walked[index]! & (1 << d)) continue;
        // Side d of the pixel (top, right, bottom, left) is a boundary when the pixel across it differs.
        const across =
          d === 0
            ? labelAt(col, row - 1)
            : d === 1
              ? labelAt(col + 1, row)
              : d === 2
                ? labelAt(col, row + 1)
                : labelAt(col - 1, row);
        if (across === label) continue;
        // The side's start, walking the pixel clockwise.
        const x = d === 0 || d === 3 ? col : col + 1;
        const y = d === 0 || d === 1 ? row : row + 1;
        const ring = traceRing(x, y, d, label);
        const entry = rings.get(label) ?? { holes: [] };
        // Walked with the component on the right, the exterior is clockwise on screen (positive shoelace
        // area with rows downwards), holes the other way round.
        if (ringArea(ring) > 0) entry.exterior = ring;
        else entry.holes.push(ring);
        rings.set(label, entry);
      }
    }
    for (const label of byLastRow.get(row) ?? []) {
      const entry = rings.get(label)!;
      rings.delete(label);
      yield { value: values[label]!, pixelCount: counts[label]!, rings: [entry.exterior!, ...entry.holes] };
    }
  }
}

/** Shoelace area of a closed ring (sign gives its orientation). */
export function ringArea(ring: ReadonlyArray<readonly [number, number]>): number {
  let twice = 0;
  for (let i = 0; i + 1 < ring.length; i++) {
    twice += ring[i]![0] * ring[i + 1]![1] - ring[i + 1]![0] * ring[i]![1];
  }
  return twice / 2;
}

/**
 * Douglas-Peucker simplification of a closed ring (tolerance in the ring's units). Returns null when the ring
 * would collapse below a triangle, so callers can keep the original or drop a hole.
 */
export function simplifyRing(ring: Array<[number, number]>, tolerance: number): Array<[number, number]> | null {
  if (tolerance <= 0 || ring.length <= 4) return ring;
  const open = ring.slice(0, -1);
  // Split at the point farthest from the first so both halves are open polylines.
  let far = 0;
  let farDistance = -1;
  for (let i = 1; i < open.length; i++) {
    const distance = Math.hypot(open[i]![0] - open[0]![0], open[i]![1] - open[0]![1]);
    if (distance > farDistance) {
      farDistance = distance;
      far = i;
    }
  }
  const first = douglasPeucker(open.slice(0, far + 1), tolerance);
  const second = douglasPeucker([...open.slice(far), open[0]!], tolerance);
  const result = [...first.slice(0, -1), ...second];
  return result.length >= 4 ? result : null;
}

function douglasPeucker(points: Array<[number, number]>, tolerance: number): Array<[number, number]> {
  if (points.length <= 2) return points;
  const [ax, ay] = points[0]!;
  const [bx, by] = points[points.length - 1]!;
  const length = Math.hypot(bx - ax, by - ay);
  let index = 0;
  let max = -1;
  for (let i = 1; i < points.length - 1; i++) {
    const [px, py] = points[i]!;
    const distance =
      length === 0 ? Math.hypot(px - ax, py - ay) : Math.abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length;
    if (distance > max) {
      max = distance;
      index = i;
    }
  }
  if (max <= tolerance) return [points[0]!, points[points.length - 1]!];
  const left = douglasPeucker(points.slice(0, index + 1), tolerance);
  const right = douglasPeucker(points.slice(index), tolerance);
  return [...left.slice(0, -1), ...right];
}
