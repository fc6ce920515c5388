/**
 * FlatGeobuf's spatial index, written as the format's spec and its reference writers (C++ / GDAL) do: features
 * sorted along a Hilbert curve of their bbox centres (descending, on a 2^16 grid over the layer extent), then
 * a packed R-tree of node size 16 stored root first, each node 4 float64 (minX, minY, maxX, maxY) and a
 * uint64 offset (leaves: byte offset of the feature in the features section; inner nodes: first child's index).
 * The flatgeobuf npm package reads such indexes but its writer does not write them.
 */

export const INDEX_NODE_SIZE = 16;
export const NODE_ITEM_BYTES = 40;

/** Node counts of each level, leaves first, and the total (as the spec's calcTreeSize). */
export function treeLevels(items: number, nodeSize = INDEX_NODE_SIZE): { levelNodes: number[]; total: number } {
  if (items <= 0) return { levelNodes: [], total: 0 };
  let n = items;
  const levelNodes = [n];
  let total = n;
  do {
    n = Math.ceil(n / nodeSize);
    levelNodes.push(n);
    total += n;
  } while (n !== 1);
  return { levelNodes, total };
}

/** Size in bytes of the index of `items` features (0 without an index). */
export function indexByteSize(items: number, nodeSize: number): number {
  return nodeSize > 0 && items > 0 ? treeLevels(items, nodeSize).total * NODE_ITEM_BYTES : 0;
}

/** Position of (x, y) on the Hilbert curve of a 2^16 x 2^16 grid (the bit-twiddling version the C++ uses). */
export function hilbert(x: number, y: number): number {
  let a = x ^ y;
  let b = 0xffff ^ a;
  let c = 0xffff ^ (x | y);
  let d = x & (y ^ 0xffff);
  let A = a | (b >>> 1);
  let B = (a >>> 1) ^ a;
  let C = (c >>> 1) ^ (b & (d >>> 1)) ^ c;
  let D = (a & (c >>> 1)) ^ (d >>> 1) ^ d;
  a = A;
  b = B;
  c = C;
  d = D;
  A = (a & (a >>> 2)) ^ (b & (b >>> 2));
  B = (a & (b >>> 2)) ^ (b & ((a ^ b) >>> 2));
  C ^= (a & (c >>> 2)) ^ (b & (d >>> 2));
  D ^= (b & (c >>> 2)) ^ ((a ^ b) & (d >>> 2));
  a = A;
  b = B;
  c = C;
  d = D;
  A = (a & (a >>> 4)) ^ (b & (b >>> 4));
  B = (a & (b >>> 4)) ^ (b & ((a ^ b) >>> 4));
  C ^= (a & (c >>> 4)) ^ (b & (d >>> 4));
  D ^= (b & (c >>> 4)) ^ ((a ^ b) & (d >>> 4));
  a = A;
  b = B;
  c = C;
  d = D;
  C ^= (a & (c >>> 8)) ^ (b & (d >>> 8));
  D ^= (b & (c >>> 8)) ^ ((a ^ b) & (d >>> 8));
  a = C ^ (C >>> 1);
  b = D ^ (D >>> 1);
  let i0 = x ^ y;
  let i1 = b | (0xffff ^ (i0 | a));
  i0 = (i0 | (i0 << 8)) & 0x00ff00ff;
  i0 = (i0 | (i0 << 4)) & 0x0f0f0f0f;
  i0 = (i0 | (i0 << 2)) & 0x33333333;
  i0 = (i0 | (i0 << 1)) & 0x55555555;
  i1 = (i1 | (i1 << 8)) & 0x00ff00ff;
  i1 = (i1 | (i1 << 4)) & 0x0f0f0f0f;
  i1 = (i1 | (i1 << 2)) & 0x33333333;
  i1 = (i1 | (i1 << 1)) & 0x55555555;
  return ((i1 << 1) | i0) >>> 0;
}

/** Feature bboxes, 4 numbers each (minX, minY, maxX, maxY), grown as features are written. */
export class BoxList {
  boxes = new Float64Array(4 * 1024);
  count = 0;
  add(minX: number, minY: number, maxX: number, maxY: number): void {
    if (4 * (this.count + 1) > this.boxes.length) {
      const grown = new Float64Array(this.boxes.length * 2);
      grown.set(this.boxes);
      this.boxes = grown;
    }
    this.boxes.set([minX, minY, maxX, maxY], 4 * this.count++);
  }
  extent(): [number, number, number, number] {
    const e: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i < this.count; i++) {
      e[0] = Math.min(e[0], this.boxes[4 * i]!);
      e[1] = Math.min(e[1], this.boxes[4 * i + 1]!);
      e[2] = Math.max(e[2], this.boxes[4 * i + 2]!);
      e[3] = Math.max(e[3], this.boxes[4 * i + 3]!);
    }
    return e;
  }
}

/** The order features are written in: Hilbert value of the bbox centre, descending (ties keep input order). */
export function hilbertOrder(list: BoxList, extent: [number, number, number, number]): Uint32Array {
  const [minX, minY, maxX, maxY] = extent;
  const width = maxX - minX;
  const height = maxY - minY;
  const values = new Uint32Array(list.count);
  const b = list.boxes;
  for (let i = 0; i < list.count; i++) {
    const x = width > 0 ? Math.floor((0xffff * ((b[4 * i]! + b[4 * i + 2]!) / 2 - minX)) / width) : 0;
    const y = height > 0 ? Math.floor((0xffff * ((b[4 * i + 1]! + b[4 * i + 3]!) / 2 - minY)) / height) : 0;
    values[i] = hilbert(x, y);
  }
  const order = Uint32Array.from({ length: list.count }, (_, i) => i);
  order.sort((p, q) => values[q]! - values[p]! || p - q);
  return order;
}

/**
 * The packed R-tree bytes for features written in `order`, whose byte lengths are `lengths` (in input
 * order): leaves at the end in written order, parents above them, root first.
 */
export function packedRTree(
  list: BoxList,
  order: Uint32Array,
  lengths: Uint32Array,
  nodeSize = INDEX_NODE_SIZE,
): Buffer {
  const { levelNodes, total } = treeLevels(list.count, nodeSize);
  const out = Buffer.alloc(total * NODE_ITEM_BYTES);
  // Level start indexes: leaves occupy the last levelNodes[0] slots, the root slot 0.
  const levelStart: number[] = [];
  let end = total;
  for (const count of levelNodes) {
    levelStart.push(end - count);
    end -= count;
  }
  const box = new Float64Array(4 * total);
  const offset = new Float64Array(total);
  let featureOffset = 0;
  for (let i = 0; i < list.count; i++) {
    const source = order[i]!;
    const node = levelStart[0]! + i;
    box.set(list.boxes.subarray(4 * source, 4 * source + 4), 4 * node);
    offset[node] = featureOffset;
    featureOffset += lengths[source]!;
  }
  for (let level = 0; level + 1 < levelNodes.length; level++) {
    let child = levelStart[level]!;
    const childEnd = child + levelNodes[level]!;
    let parent = levelStart[level + 1]!;
    while (child < childEnd) {
      let minX = Infinity;
      let minY = Infinity;
      let maxX = -Infinity;
      let maxY = -Infinity;
      offset[parent] = child;
      for (let j = 0; j < nodeSize && child < childEnd; j++, child++) {
        minX = Math.min(minX, box[4 * child]!);
        minY = Math.min(minY, box[4 * child + 1]!);
        maxX = Math.max(maxX, box[4 * child + 2]!);
        maxY = Math.max(maxY, box[4 * child + 3]!);
      }
      box.set([minX, minY, maxX, maxY], 4 * parent);
      parent++;
    }
  }
  for (let node = 0; node < total; node++) {
    const at = node * NODE_ITEM_BYTES;
    for (let k = 0; k < 4; k++) out.writeDoubleLE(box[4 * node + k]!, at + 8 * k);
    out.writeBigUInt64LE(BigInt(offset[node]!), at + 32);
  }
  return out;
}
