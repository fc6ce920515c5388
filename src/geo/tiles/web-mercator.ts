/**
 * Web Mercator (EPSG:3857) tile grid of the XYZ / "slippy map" scheme: tile (0, 0) is the north-west
 * corner, 2^z x 2^z tiles of 256 x 256 pixels per zoom level, on the sphere of radius 6378137 m.
 */
export const TILE_SIZE = 256;
export const EARTH_RADIUS = 6378137;
/** Half the width of the projected world: x and y run from -ORIGIN_SHIFT to +ORIGIN_SHIFT. */
export const ORIGIN_SHIFT = Math.PI * EARTH_RADIUS;
/** Highest zoom the tile endpoint accepts (about 2 cm pixels at the equator). */
export const MAX_TILE_ZOOM = 24;
/** Web Mercator is defined up to this latitude (the world is square). */
export const MAX_LATITUDE = (Math.atan(Math.sinh(Math.PI)) * 180) / Math.PI;

const DEG = 180 / Math.PI;

/** Size of one tile pixel at zoom z, in EPSG:3857 metres. */
export function pixelSize(z: number): number {
  return (2 * ORIGIN_SHIFT) / TILE_SIZE / 2 ** z;
}

/** [minX, minY, maxX, maxY] of tile z/x/y in EPSG:3857. */
export function tileBounds(z: number, x: number, y: number): [number, number, number, number] {
  const size = (2 * ORIGIN_SHIFT) / 2 ** z;
  const minX = -ORIGIN_SHIFT + x * size;
  const maxY = ORIGIN_SHIFT - y * size;
  return [minX, maxY - size, minX + size, maxY];
}

export function mercatorToLonLat(x: number, y: number): [number, number] {
  return [(x / EARTH_RADIUS) * DEG, Math.atan(Math.sinh(y / EARTH_RADIUS)) * DEG];
}

export function lonLatToMercator(lon: number, lat: number): [number, number] {
  const clamped = Math.max(-MAX_LATITUDE, Math.min(MAX_LATITUDE, lat));
  return [(lon / DEG) * EARTH_RADIUS, Math.asinh(Math.tan(clamped / DEG)) * EARTH_RADIUS];
}

/** Why z/x/y is not a tile of the grid, or null when it is one. */
export function invalidTile(z: number, x: number, y: number): string | null {
  if (!Number.isInteger(z) || z < 0 || z > MAX_TILE_ZOOM)
    return `zoom must be a whole number from 0 to ${MAX_TILE_ZOOM}, got ${z}`;
  const n = 2 ** z;
  if (!Number.isInteger(x) || x < 0 || x >= n)
    return `x must be a whole number from 0 to ${n - 1} at zoom ${z}, got ${x}`;
  if (!Number.isInteger(y) || y < 0 || y >= n)
    return `y must be a whole number from 0 to ${n - 1} at zoom ${z}, got ${y}`;
  return null;
}
