/**
 * Class mask -> polygons, one per 4-connected component of equal value (GDAL's default connectedness), with
 * holes. A sweep over the rows: only two rows of labels are held (union-find across rows, so a component
 * crossing the model's internal tile borders or any row band is still one polygon), boundary edges are linked
 * into chains at each pixel corner as the sweep passes it, and a component is yielded as soon as the row after
 * its last one is done. Memory: two rows plus the open chains and the rings of components still being swept,
 * never a label per pixel of the whole mask. Rings follow pixel edges exactly (rasterizing a polygon back gives
 * its pixels).
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

/** One row of the mask (`width` values); may be a view that the caller reuses after the call. */
export type MaskRowSource = (row: number) => ArrayLike<number>;

/**
 * A boundary polyline in ring order (component on the right), both ends on the sweep line. Points are flat
 * [x, y, ...] in two arrays so both ends grow by push: the sequence is reverse(tail) ++ head.
 */
interface Chain {
  head: number[];
  tail: number[];
  label: number;
  /** Set when merged into another chain (slots may still hold this one). */
  forward: Chain | null;
}

interface ComponentData {
  value: number;
  pixelCount: number;
  /** Index of its first pixel in scan order (orders components finishing on the same row). */
  first: number;
  exterior: PixelRing | null;
  holes: PixelRing[];
}

function resolve(chain: Chain): Chain {
  while (chain.forward) chain = chain.forward;
  return chain;
}

/** Pushes a point, dropping the previous one when it lies on a straight run (rings keep corners only). */
function pushPoint(points: number[], x: number, y: number): void {
  const n = points.length;
  if (n >= 4) {
    const x0 = points[n - 4]!;
    const y0 = points[n - 3]!;
    const x1 = points[n - 2]!;
    const y1 = points[n - 1]!;
    if ((x0 === x1 && x1 === x) || (y0 === y1 && y1 === y)) {
      points[n - 2] = x;
      points[n - 1] = y;
      return;
    }
  }
  points.push(x, y);
}

function chainLength(chain: Chain): number {
  return chain.head.length + chain.tail.length;
}

/** The chain's points in ring order, flat. */
function chainPoints(chain: Chain): number[] {
  const points: number[] = [];
  for (let i = chain.tail.length - 2; i >= 0; i -= 2) points.push(chain.tail[i]!, chain.tail[i + 1]!);
  for (let i = 0; i < chain.head.length; i++) points.push(chain.head[i]!);
  return points;
}

/**
 * A closed chain (first point = last point) as a ring of corners only, starting at its top-left-most corner
 * so the output does not depend on where the sweep closed it.
 */
function closedRing(flat: number[]): PixelRing {
  const points: Array<[number, number]> = [];
  for (let i = 0; i + 2 < flat.length; i += 2) points.push([flat[i]!, flat[i + 1]!]); // last = first, dropped
  const n = points.length;
  const corners: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const [px, py] = points[(i + n - 1) % n]!;
    const [x, y] = points[i]!;
    const [nx, ny] = points[(i + 1) % n]!;
    if ((px === x && x === nx) || (py === y && y === ny)) continue;
    corners.push([x, y]);
  }
  let start = 0;
  for (let i = 1; i < corners.length; i++) {
    const [x, y] = corners[i]!;
    const [sx, sy] = corners[start]!;
    if (y < sy || (y === sy && x < sx)) start = i;
  }
  const ring = [...corners.slice(start), ...corners.slice(0, start)];
  ring.push([ring[0]![0], ring[0]![1]]);
  return ring;
}

/**
 * The sweep: feed rows in order with `pushRow`, then `finish`; each returns the components completed by it,
 * in order of their first pixel.
 */
export class MaskPolygonizer {
  private readonly skip: Set<number>;
  private readonly skipTable = new Uint8Array(65536);
  private parent = new Int32Array(1024);
  /** Per label: the row + 1 in which its root was last seen (finishing), or -1 once emitted. */
  private seen = new Int32Array(1024);
  /** Pixels per root label (a typed array: the labelling touches it for every pixel). */
  private counts = new Float64Array(1024);
  private nextLabel = 1;
  private readonly data = new Map<number, ComponentData>();
  private previous: Float64Array;
  private current: Float64Array;
  private previousLabels: Int32Array;
  private currentLabels: Int32Array;
  // Chain ends on the sweep line: heads arriving at (x, y) from above, tails leaving (x, y) upwards.
  private arriving: Array<Chain | null>;
  private departing: Array<Chain | null>;
  private nextArriving: Array<Chain | null>;
  private nextDeparting: Array<Chain | null>;
  private row = 0;

  constructor(
    private readonly width: number,
    private readonly height: number,
    options: PolygonizeOptions = {},
  ) {
    this.skip = new Set(options.skipValues ?? []);
    for (const value of this.skip)
      if (Number.isInteger(value) && value >= 0 && value < 65536) this.skipTable[value] = 1;
    this.previous = new Float64Array(width).fill(NaN);
    this.current = new Float64Array(width).fill(NaN);
    this.previousLabels = new Int32Array(width);
    this.currentLabels = new Int32Array(width);
    this.arriving = new Array<Chain | null>(width + 1).fill(null);
    this.departing = new Array<Chain | null>(width + 1).fill(null);
    this.nextArriving = new Array<Chain | null>(width + 1).fill(null);
    this.nextDeparting = new Array<Chain | null>(width + 1).fill(null);
  }

  private skipped(value: number): boolean {
    if (Number.isNaN(value)) return true;
    return Number.isInteger(value) && value >= 0 && value < 65536 ? this.skipTable[value] === 1 : this.skip.has(value);
  }

  private find(label: number): number {
    const parent = this.parent;
    let root = label;
    while (parent[root] !== root) root = parent[root]!;
    while (parent[label] !== root) {
      const up = parent[label]!;
      parent[label] = root;
      label = up;
    }
    return root;
  }

  private newLabel(value: number, first: number): number {
    if (this.nextLabel === this.parent.length) {
      const parent = new Int32Array(this.parent.length * 2);
      parent.set(this.parent);
      this.parent = parent;
      const seen = new Int32Array(this.seen.length * 2);
      seen.set(this.seen);
      this.seen = seen;
      const counts = new Float64Array(this.counts.length * 2);
      counts.set(this.counts);
      this.counts = counts;
    }
    const label = this.nextLabel++;
    this.parent[label] = label;
    this.counts[label] = 0;
    this.data.set(label, { value, pixelCount: 0, first, exterior: null, holes: [] });
    return label;
  }

  private union(a: number, b: number): number {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return ra;
    const keep = ra < rb ? ra : rb;
    const gone = ra < rb ? rb : ra;
    this.parent[gone] = keep;
    const kept = this.data.get(keep)!;
    const merged = this.data.get(gone)!;
    this.data.delete(gone);
    this.counts[keep]! += this.counts[gone]!;
    kept.first = Math.min(kept.first, merged.first);
    if (merged.exterior) kept.exterior = merged.exterior;
    if (merged.holes.length > kept.holes.length) [kept.holes, merged.holes] = [merged.holes, kept.holes];
    for (const hole of merged.holes) kept.holes.push(hole);
    return keep;
  }

  /** Labels the next row (union-find with the row above). */
  private labelRow(values: ArrayLike<number>): void {
    const { width } = this;
    [this.previous, this.current] = [this.current, this.previous];
    [this.previousLabels, this.currentLabels] = [this.currentLabels, this.previousLabels];
    const row = this.current;
    const labels = this.currentLabels;
    const above = this.previous;
    const aboveLabels = this.previousLabels;
    // Run by run: the skip test once per run, a union only where the label above changes.
    let x = 0;
    while (x < width) {
      const value = values[x]!;
      let end = x + 1;
      while (end < width && values[end] === value) end++;
      if (this.skipped(value)) {
        for (let i = x; i < end; i++) {
          row[i] = value;
          labels[i] = 0;
        }
        x = end;
        continue;
      }
      let label = 0;
      let lastUp = 0;
      for (let i = x; i < end; i++) {
        row[i] = value;
        if (above[i] !== value) continue;
        const up = aboveLabels[i]!;
        if (up === lastUp) continue;
        lastUp = up;
        label = label ? this.union(label, up) : this.find(up);
      }
      if (!label) label = this.newLabel(value, this.row * width + x);
      for (let i = x; i < end; i++) labels[i] = label;
      this.counts[label]! += end - x;
      x = end;
    }
  }

  private closeRing(chain: Chain): void {
    const ring = closedRing(chainPoints(chain));
    const component = this.data.get(this.find(chain.label))!;
    // Walked with the component on the right, the exterior is clockwise on screen (positive shoelace area
    // with rows downwards), holes the other way round.
    if (ringArea(ring) > 0) component.exterior = ring;
    else component.holes.push(ring);
  }

  /** Joins a chain whose head is at the corner to one whose tail is there (or closes a ring). */
  private join(incoming: Chain, outgoing: Chain): void {
    const a = resolve(incoming);
    const b = resolve(outgoing);
    if (a === b) {
      this.closeRing(a);
      return;
    }
    // Copy the shorter chain into the longer one (small into large keeps merging near-linear).
    if (chainLength(a) >= chainLength(b)) {
      const points = chainPoints(b);
      for (let i = 2; i < points.length; i += 2) pushPoint(a.head, points[i]!, points[i + 1]!);
      b.forward = a;
    } else {
      const points = chainPoints(a);
      for (let i = points.length - 4; i >= 0; i -= 2) pushPoint(b.tail, points[i]!, points[i + 1]!);
      a.forward = b;
    }
  }

  /**
   * Links the boundary edges meeting at the pixel corners of vertex line `y` (between the previous and the
   * current row), left to right. At each corner every pixel's incoming edge is linked to its own outgoing one
   * when it has both (a convex corner; at a corner shared diagonally by two pixels of one value this keeps them
   * apart, 4-connectivity), else to the outgoing edge of a neighbouring pixel of the same value.
   */
  private linkLine(y: number): void {
    const { width } = this;
    const above = this.previous;
    const below = this.current;
    const aboveLabels = this.previousLabels;
    const belowLabels = this.currentLabels;
    const nextArriving = this.nextArriving;
    const nextDeparting = this.nextDeparting;
    this.eastHead = null;
    this.westTail = null;
    for (let x = 0; x <= width; x++) {
      const tl = x > 0 ? above[x - 1]! : NaN;
      const tr = x < width ? above[x]! : NaN;
      const bl = x > 0 ? below[x - 1]! : NaN;
      const br = x < width ? below[x]! : NaN;
      nextArriving[x] = null;
      nextDeparting[x] = null;
      if (tl === tr && bl === br && tl === bl) {
        // Inside a region: no edge meets here.
        this.eastHead = null;
        this.westTail = null;
        continue;
      }
      const tlOn = x > 0 && aboveLabels[x - 1] !== 0;
      const trOn = x < width && aboveLabels[x] !== 0;
      const blOn = x > 0 && belowLabels[x - 1] !== 0;
      const brOn = x < width && belowLabels[x] !== 0;
      // Edge kinds: in 0 south from above, 1 east from the left, 2 west from the right, 3 north from below;
      // out 0 north upwards, 1 west to the left, 2 east to the right, 3 south downwards.
      const inSouth = tlOn && tl !== tr;
      const inEast = blOn && bl !== tl;
      const inWest = trOn && tr !== br;
      const inNorth = brOn && br !== bl;
      const outNorth = trOn && tr !== tl;
      const outWest = tlOn && tl !== bl;
      const outEast = brOn && br !== tr;
      const outSouth = blOn && bl !== br;
      this.prevEastHead = this.eastHead;
      this.prevWestTail = this.westTail;
      this.eastHead = null;
      this.westTail = null;
      if (!(inSouth || inEast || inWest || inNorth)) continue;
      // Each pixel's own corner first: top-left (in south, out west), top-right (in west, out north),
      // bottom-left (in east, out south), bottom-right (in north, out east). The rest (at most two ins and
      // two outs) pair up by value: straight runs and concave corners.
      let in1 = -1;
      let in2 = -1;
      let out1 = -1;
      let out2 = -1;
      if (inSouth && outWest) this.link(x, y, 0, 1);
      else if (inSouth) in1 = 0;
      else if (outWest) out1 = 1;
      if (inWest && outNorth) this.link(x, y, 2, 0);
      else if (inWest) in1 < 0 ? (in1 = 2) : (in2 = 2);
      else if (outNorth) out1 < 0 ? (out1 = 0) : (out2 = 0);
      if (inEast && outSouth) this.link(x, y, 1, 3);
      else if (inEast) in1 < 0 ? (in1 = 1) : (in2 = 1);
      else if (outSouth) out1 < 0 ? (out1 = 3) : (out2 = 3);
      if (inNorth && outEast) this.link(x, y, 3, 2);
      else if (inNorth) in1 < 0 ? (in1 = 3) : (in2 = 3);
      else if (outEast) out1 < 0 ? (out1 = 2) : (out2 = 2);
      if (in1 < 0) continue;
      // By in kind: south (tl), east (bl), west (tr), north (br); by out kind: north (tr), west (tl),
      // east (br), south (bl).
      const in1Value = in1 === 0 ? tl : in1 === 1 ? bl : in1 === 2 ? tr : br;
      const out1Value = out1 === 0 ? tr : out1 === 1 ? tl : out1 === 2 ? br : bl;
      if (in1Value === out1Value) {
        this.link(x, y, in1, out1);
        if (in2 >= 0) this.link(x, y, in2, out2);
      } else {
        if (out2 < 0 || in2 < 0) throw new Error(`polygonize: unmatched boundary edge at (${x}, ${y})`);
        this.link(x, y, in1, out2);
        this.link(x, y, in2, out1);
      }
    }
    [this.arriving, this.nextArriving] = [nextArriving, this.arriving];
    [this.departing, this.nextDeparting] = [nextDeparting, this.departing];
  }

  // Horizontal edges carried from one corner of the line to the next.
  /** Tail at the current corner of the upper pixel's bottom edge running west (set by the corner before). */
  private prevWestTail: Chain | null = null;
  /** Head at the current corner of the lower pixel's top edge arriving from the west. */
  private prevEastHead: Chain | null = null;
  private westTail: Chain | null = null;
  private eastHead: Chain | null = null;

  /** Links an incoming edge to an outgoing one at corner (x, y), extending, joining or closing chains. */
  private link(x: number, y: number, inKind: number, outKind: number): void {
    const incoming = inKind === 0 ? this.arriving[x]! : inKind === 1 ? this.prevEastHead! : null;
    const outgoing = outKind === 0 ? this.departing[x]! : outKind === 1 ? this.prevWestTail! : null;
    if (incoming && outgoing) {
      this.join(incoming, outgoing);
      return;
    }
    let chain: Chain;
    if (incoming) chain = resolve(incoming);
    else if (outgoing) chain = resolve(outgoing);
    else {
      const label = inKind === 2 ? this.previousLabels[x]! : this.currentLabels[x]!;
      chain = { head: [x, y], tail: [], label, forward: null };
    }
    if (!outgoing) {
      // The new outgoing edge extends the head.
      if (outKind === 2) {
        pushPoint(chain.head, x + 1, y);
        this.eastHead = chain;
      } else {
        pushPoint(chain.head, x, y + 1);
        this.nextArriving[x] = chain;
      }
    }
    if (!incoming) {
      // The new incoming edge extends the tail backwards.
      if (inKind === 2) {
        pushPoint(chain.tail, x + 1, y);
        this.westTail = chain;
      } else {
        pushPoint(chain.tail, x, y + 1);
        this.nextDeparting[x] = chain;
      }
    }
  }

  /** Components seen in the previous row and not in the current one: complete. */
  private finished(): MaskComponent[] {
    const { width } = this;
    const stamp = this.row + 1;
    for (let x = 0; x < width; x++) {
      const label = this.currentLabels[x]!;
      if (label !== 0) this.seen[this.find(label)] = stamp;
    }
    const done: Array<ComponentData> = [];
    for (let x = 0; x < width; x++) {
      const label = this.previousLabels[x]!;
      if (label === 0) continue;
      const root = this.find(label);
      if (this.seen[root] === stamp || this.seen[root] === -1) continue;
      this.seen[root] = -1;
      const component = this.data.get(root)!;
      component.pixelCount = this.counts[root]!;
      done.push(component);
      this.data.delete(root);
    }
    done.sort((a, b) => a.first - b.first);
    return done.map((component) => {
      if (!component.exterior) throw new Error('polygonize: a component without an exterior ring');
      return {
        value: component.value,
        pixelCount: component.pixelCount,
        rings: [component.exterior, ...component.holes],
      };
    });
  }

  /** Adds the next row; returns the components it completed. */
  pushRow(values: ArrayLike<number>): MaskComponent[] {
    if (this.row >= this.height) throw new Error('polygonize: more rows than the mask has');
    this.labelRow(values);
    this.linkLine(this.row);
    const done = this.finished();
    this.row++;
    return done;
  }

  /** After the last row: closes the bottom edges; returns the remaining components. */
  finish(): MaskComponent[] {
    if (this.row !== this.height) throw new Error(`polygonize: ${this.row} of ${this.height} rows given`);
    this.labelRow(new Float64Array(this.width).fill(NaN));
    this.linkLine(this.row);
    return this.finished();
  }
}

/** The components of a whole mask held in memory, in the order the sweep completes them. */
export function* polygonizeMask(
  mask: ArrayLike<number> & { subarray?: (start: number, end: number) => ArrayLike<number> },
  width: number,
  height: number,
  options: PolygonizeOptions = {},
): Generator<MaskComponent> {
  const sweep = new MaskPolygonizer(width, height, options);
  const rowAt: MaskRowSource = (row) =>
    mask.subarray
      ? mask.subarray(row * width, (row + 1) * width)
      : Array.from({ length: width }, (_, x) => mask[row * width + x]!);
  for (let row = 0; row < height; row++) yield* sweep.pushRow(rowAt(row));
  yield* sweep.finish();
}

/**
 * Like polygonizeMask, reading rows from `rowAt` and handing the event loop a turn every `sliceMs` of work
 * (so heartbeats and other requests go on while a whole tile is swept).
 */
export async function* polygonizeRows(
  rowAt: MaskRowSource,
  width: number,
  height: number,
  options: PolygonizeOptions & { sliceMs?: number } = {},
): AsyncGenerator<MaskComponent> {
  const sweep = new MaskPolygonizer(width, height, options);
  const sliceMs = options.sliceMs ?? 20;
  let sliceStart = performance.now();
  for (let row = 0; row < height; row++) {
    yield* sweep.pushRow(rowAt(row));
    if (performance.now() - sliceStart >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  yield* sweep.finish();
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
