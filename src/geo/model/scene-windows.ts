/**
 * Scene windows: a large input is run through the model as horizontal strips of whole tile rows, so neither the
 * input nor the output is ever whole in memory (activities/scene-inference.ts).
 *
 * A window takes tile rows [a, b) of the image's tile plan (segmentation.ts planTiles) and reads input rows
 * [origin(a), origin(b - 1) + tile_size): the window's own tile plan is then exactly those tile rows, so every tile
 * is computed as in a whole-image run, and no tile is computed twice.
 * - `center` blending: each tile row is authoritative for its core rows, so a window finishes the core rows of its
 *   tile rows and nothing else.
 * - `linear` / `cosine`: rows that tiles of two windows cover (the overlap between tile row b - 1 and b) are the
 *   window's edges: both windows return their raw class sums for them, and the caller adds them before the argmax.
 */
import { axisOrigins } from './segmentation';

export interface SceneWindow {
  index: number;
  /** Tile rows [tileRowStart, tileRowEnd) of the image's tile plan. */
  tileRowStart: number;
  tileRowEnd: number;
  /** Input rows read: [inputStart, inputEnd). */
  inputStart: number;
  inputEnd: number;
  /** Output rows this window finishes by itself: [finalStart, finalEnd). */
  finalStart: number;
  finalEnd: number;
  /** Blended edges: the first `topRows` input rows are shared with the previous window, the last `bottomRows` with the next. */
  topRows: number;
  bottomRows: number;
}

/**
 * Windows of an image `height` rows high, each reading at most `maxInputRows` rows where the tile plan allows
 * (a window holds at least enough tile rows for its edges not to meet).
 */
export function planSceneWindows(
  height: number,
  tileSize: number,
  overlap: number,
  blended: boolean,
  maxInputRows: number,
): SceneWindow[] {
  const origins = axisOrigins(height, tileSize, overlap);
  const rows = origins.length;
  const stride = tileSize - overlap;
  // Enough tile rows that the rows shared with the previous window (the overlap) end before those shared with the
  // next begin: k rows span k strides, which must cover the overlap.
  const minTileRows = blended ? Math.max(1, Math.ceil(overlap / stride)) : 1;
  const byMemory = Math.floor((Math.max(maxInputRows, tileSize) - tileSize) / stride) + 1;
  const perWindow = Math.max(minTileRows, byMemory);
  const starts: number[] = [];
  for (let a = 0; a < rows; a += perWindow) starts.push(a);
  // Blended: rows shared with the previous window must end before those shared with the next begin (the last,
  // flush tile row can overlap its neighbour by more than `overlap`): a window too short for that joins the next.
  const sharedEnd = (a: number) => (a === 0 ? 0 : Math.min(height, origins[a - 1]! + tileSize));
  for (let j = 1; blended && j + 1 < starts.length;) {
    if (sharedEnd(starts[j]!) > origins[starts[j + 1]!]!) starts.splice(j + 1, 1);
    else j += 1;
  }
  const coreStart = (row: number) =>
    row === 0 ? 0 : Math.floor((origins[row - 1]! + origins[row]! + tileSize + 1) / 2);
  return starts.map((a, index) => {
    const b = index + 1 < starts.length ? starts[index + 1]! : rows;
    const inputStart = origins[a]!;
    const inputEnd = Math.min(height, origins[b - 1]! + tileSize);
    if (!blended) {
      return {
        index,
        tileRowStart: a,
        tileRowEnd: b,
        inputStart,
        inputEnd,
        finalStart: coreStart(a),
        finalEnd: b === rows ? height : coreStart(b),
        topRows: 0,
        bottomRows: 0,
      };
    }
    const topEnd = a === 0 ? inputStart : sharedEnd(a);
    const bottomStart = b === rows ? inputEnd : origins[b]!;
    if (topEnd > bottomStart) throw new Error(`scene window ${index} is too short for its blended edges`);
    return {
      index,
      tileRowStart: a,
      tileRowEnd: b,
      inputStart,
      inputEnd,
      finalStart: topEnd,
      finalEnd: bottomStart,
      topRows: topEnd - inputStart,
      bottomRows: inputEnd - bottomStart,
    };
  });
}
