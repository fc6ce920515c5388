/**
 * Continuous model outputs (issue 14 item 2): regression channels and segmentation class probabilities.
 *
 * Overlapping tiles are combined by a weighted average per channel, with the weights of tile_blending
 * (segmentation.ts blendWeights: linear / cosine ramps over the overlap); `center` gives each pixel the value of
 * the tile whose core holds it (weight 1 on the core, 0 elsewhere), as for class masks. The average is
 * sum(w * v) / sum(w) in double precision, stored as float32. Like BlendAccumulator, sums are held for one band of
 * rows (tile_size rows) only; rows above the current tile row are final.
 *
 * Probabilities are the softmax over the class logits of each tile (max-subtracted, double precision), averaged
 * across tiles the same way.
 */
import type { TileBlending } from '../../../workflows/contract/model-spec';
import { blendWeights, type TileWindow } from './segmentation';

/** How the model's raw channels become the stored values of one tile pixel. */
export type ContinuousTransform = 'identity' | 'softmax';

export class ContinuousAccumulator {
  /** Output: `channels` planes of width x height, plane-major (band-sequential). */
  readonly values: Float32Array;
  private readonly sums: Float64Array;
  private readonly weightSums: Float64Array;
  private readonly weights: Float64Array | null;
  private readonly pixelValues: Float64Array;
  private bandStart = 0;
  private readonly bandRows: number;

  constructor(
    private readonly width: number,
    private readonly height: number,
    private readonly tileSize: number,
    overlap: number,
    readonly channels: number,
    blending: TileBlending,
    private readonly transform: ContinuousTransform,
  ) {
    this.values = new Float32Array(width * height * channels);
    this.bandRows = Math.min(tileSize, height);
    this.sums = new Float64Array(this.bandRows * width * channels);
    this.weightSums = new Float64Array(this.bandRows * width);
    this.weights = blending === 'center' ? null : blendWeights(tileSize, overlap, blending);
    this.pixelValues = new Float64Array(channels);
  }

  /** Adds one tile's raw outputs (channels-first, T x T per channel, at `base`); tiles must come in plan order. */
  add(output: Float32Array, base: number, tile: TileWindow): void {
    if (tile.y > this.bandStart) this.settle(tile.y);
    const { sums, weightSums, weights, width, channels, tileSize, pixelValues } = this;
    const plane = tileSize * tileSize;
    // `center`: only the core pixels count, each from exactly one tile.
    const [x0, x1, y0, y1] = weights
      ? [0, tile.w, 0, tile.h]
      : [
          tile.core.x - tile.x,
          tile.core.x - tile.x + tile.core.w,
          tile.core.y - tile.y,
          tile.core.y - tile.y + tile.core.h,
        ];
    for (let py = y0; py < y1; py++) {
      const wy = weights ? weights[py]! : 1;
      const bandRow = tile.y + py - this.bandStart;
      const outputRow = base + py * tileSize;
      for (let px = x0; px < x1; px++) {
        const weight = weights ? wy * weights[px]! : 1;
        for (let c = 0; c < channels; c++) pixelValues[c] = output[outputRow + c * plane + px]!;
        if (this.transform === 'softmax') softmaxInPlace(pixelValues);
        const at = bandRow * width + tile.x + px;
        weightSums[at] += weight;
        const sumAt = at * channels;
        for (let c = 0; c < channels; c++) sums[sumAt + c] += weight * pixelValues[c]!;
      }
    }
  }

  /** Settles every remaining row (after the last tile). */
  finish(): void {
    this.settle(this.height);
  }

  private settle(until: number): void {
    const { sums, weightSums, width, channels, values } = this;
    const rows = until - this.bandStart;
    const planeSize = this.width * this.height;
    for (let r = 0; r < rows; r++) {
      const imageRow = (this.bandStart + r) * width;
      for (let x = 0; x < width; x++) {
        const at = r * width + x;
        const weight = weightSums[at]!;
        for (let c = 0; c < channels; c++)
          values[c * planeSize + imageRow + x] = weight > 0 ? sums[at * channels + c]! / weight : Number.NaN;
      }
    }
    sums.copyWithin(0, rows * width * channels);
    sums.fill(0, sums.length - rows * width * channels);
    weightSums.copyWithin(0, rows * width);
    weightSums.fill(0, weightSums.length - rows * width);
    this.bandStart = until;
  }
}

/** Softmax of `values` in place (max subtracted first, so large logits do not overflow). */
export function softmaxInPlace(values: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const e = Math.exp(values[i]! - max);
    values[i] = e;
    sum += e;
  }
  for (let i = 0; i < values.length; i++) values[i] = values[i]! / sum;
}

/**
 * Float probabilities (classes planes) as uint8 percent: each pixel's bands are rounded so that they sum to exactly
 * 100 (largest remainders get the leftover points); `nodataPixels` (1 = no data) get 255 in every band.
 */
export function probabilitiesToPercent(
  probabilities: Float32Array,
  pixels: number,
  classes: number,
  nodataPixels: Uint8Array | null,
): Uint8Array {
  const out = new Uint8Array(pixels * classes);
  const remainders = new Float64Array(classes);
  const order: number[] = Array.from({ length: classes }, (_, i) => i);
  for (let i = 0; i < pixels; i++) {
    if (nodataPixels && nodataPixels[i] === 1) {
      for (let c = 0; c < classes; c++) out[c * pixels + i] = 255;
      continue;
    }
    let total = 0;
    for (let c = 0; c < classes; c++) {
      const scaled = probabilities[c * pixels + i]! * 100;
      const floor = Math.floor(scaled);
      out[c * pixels + i] = floor;
      remainders[c] = scaled - floor;
      total += floor;
    }
    let left = 100 - total;
    if (left > 0) {
      order.sort((a, b) => remainders[b]! - remainders[a]! || a - b);
      for (let k = 0; k < classes && left > 0; k++, left--) out[order[k]! * pixels + i] += 1;
    }
  }
  return out;
}
