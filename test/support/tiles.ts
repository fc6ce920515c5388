import { classColourMap } from '../../src/geo/tiles/cog-tiles';
import { lonLatToMercator, ORIGIN_SHIFT } from '../../src/geo/tiles/web-mercator';

export const TEST_CLASSES = [
  { value: 0, name: 'clear', color: '#10a040' },
  { value: 1, name: 'cloud', color: '#f0f0f0' },
  { value: 2, name: 'shadow' }, // no colour: default palette
  { value: 3, name: 'water', color: '#1f4fd0' },
];

/** Tile x/y range covering WGS 84 bounds at zoom z. */
export function tileRange(
  bounds: [number, number, number, number],
  z: number,
): { x0: number; x1: number; y0: number; y1: number } {
  const n = 2 ** z;
  const [minX, minY] = lonLatToMercator(bounds[0], bounds[1]);
  const [maxX, maxY] = lonLatToMercator(bounds[2], bounds[3]);
  const tx = (mx: number) => Math.min(n - 1, Math.floor(((mx + ORIGIN_SHIFT) / (2 * ORIGIN_SHIFT)) * n));
  const ty = (my: number) => Math.min(n - 1, Math.floor(((ORIGIN_SHIFT - my) / (2 * ORIGIN_SHIFT)) * n));
  return { x0: tx(minX), x1: tx(maxX), y0: ty(maxY), y1: ty(minY) };
}

/** Every tile of the range when small, else corners, centre and a few in between (edges, nodata, interior). */
export function sampleTiles(range: ReturnType<typeof tileRange>, limit = 9): Array<[number, number]> {
  const all: Array<[number, number]> = [];
  for (let y = range.y0; y <= range.y1; y++) for (let x = range.x0; x <= range.x1; x++) all.push([x, y]);
  if (all.length <= limit) return all;
  const pick = new Map<string, [number, number]>();
  const mx = Math.floor((range.x0 + range.x1) / 2);
  const my = Math.floor((range.y0 + range.y1) / 2);
  for (const [x, y] of [
    [range.x0, range.y0],
    [range.x1, range.y1],
    [range.x0, range.y1],
    [range.x1, range.y0],
    [mx, my],
    [mx, range.y0],
    [range.x0, my],
    [mx + 1, my + 1],
    [range.x1, my],
  ] as Array<[number, number]>) {
    pick.set(`${x}/${y}`, [Math.min(x, range.x1), Math.min(y, range.y1)]);
  }
  return [...pick.values()].slice(0, limit);
}

export function colourTable(classes: Array<{ value: number; name: string; color?: string }>): Record<string, number[]> {
  const palette = classColourMap(classes, 255).palette;
  return Object.fromEntries(classes.map((c, i) => [String(c.value), palette[i + 1]!.slice(0, 3)]));
}
