import area from '@turf/area';
import turfBbox from '@turf/bbox';
import booleanValid from '@turf/boolean-valid';
import kinks from '@turf/kinks';
import * as mgrs from 'mgrs';

/** [lon_min, lat_min, lon_max, lat_max] in WGS84 degrees. */
export type Bbox = [number, number, number, number];

export type PolygonGeometry =
  { type: 'Polygon'; coordinates: number[][][] } | { type: 'MultiPolygon'; coordinates: number[][][][] };

/** Sentinel-2 tiles are MGRS 100 km squares: zone 1-60, latitude band C-X (no I, O), two square letters. */
export const MGRS_TILE = /^(0?[1-9]|[1-5]\d|60)[C-HJ-NP-X][A-HJ-NP-Z][A-HJ-NP-V]$/;

export class SpatialDomainError extends Error {}

function checkPosition(position: unknown, where: string): void {
  if (
    !Array.isArray(position) ||
    position.length < 2 ||
    !position.every((value) => typeof value === 'number' && Number.isFinite(value))
  ) {
    throw new SpatialDomainError(`${where} must be a [lon, lat] pair of numbers`);
  }
  const [lon, lat] = position as number[];
  if (lon < -180 || lon > 180 || lat < -90 || lat > 90)
    throw new SpatialDomainError(`${where} [${lon}, ${lat}] is outside WGS84 lon/lat ranges`);
}

function checkRings(rings: unknown, where: string): void {
  if (!Array.isArray(rings) || rings.length === 0)
    throw new SpatialDomainError(`${where} must be a non-empty array of linear rings`);
  rings.forEach((ring, r) => {
    if (!Array.isArray(ring) || ring.length < 4)
      throw new SpatialDomainError(`${where}[${r}] needs at least 4 positions (a closed ring)`);
    ring.forEach((position, p) => checkPosition(position, `${where}[${r}][${p}]`));
    const first = ring[0] as number[];
    const last = ring[ring.length - 1] as number[];
    if (first[0] !== last[0] || first[1] !== last[1])
      throw new SpatialDomainError(`${where}[${r}] is not closed (first and last positions differ)`);
  });
}

/**
 * Accepts a GeoJSON Polygon or MultiPolygon, bare or as a Feature, in WGS84; returns the geometry or throws
 * SpatialDomainError saying what is wrong (structure, ranges, closure, self-intersection, zero area).
 */
export function polygonGeometry(value: unknown): PolygonGeometry {
  if (typeof value !== 'object' || value === null)
    throw new SpatialDomainError('must be a GeoJSON Polygon or MultiPolygon (or a Feature with one)');
  let geometry = value as { type?: unknown; coordinates?: unknown; geometry?: unknown };
  if (geometry.type === 'Feature') geometry = (geometry.geometry ?? {}) as typeof geometry;
  if (geometry.type === 'Polygon') {
    checkRings(geometry.coordinates, 'coordinates');
  } else if (geometry.type === 'MultiPolygon') {
    if (!Array.isArray(geometry.coordinates) || geometry.coordinates.length === 0)
      throw new SpatialDomainError('coordinates must be a non-empty array of polygons');
    geometry.coordinates.forEach((polygon, index) => checkRings(polygon, `coordinates[${index}]`));
  } else {
    throw new SpatialDomainError(
      `must be a GeoJSON Polygon or MultiPolygon (or a Feature with one), got type ${JSON.stringify(geometry.type ?? null)}`,
    );
  }
  const result = { type: geometry.type, coordinates: geometry.coordinates } as PolygonGeometry;
  // booleanValid checks holes and multipolygon overlaps but not rings crossing themselves: kinks does.
  if (kinks(result as never).features.length > 0 || !booleanValid(result as never)) {
    throw new SpatialDomainError('is not a valid polygon (self-intersecting or overlapping rings)');
  }
  if (area(result as never) <= 0) throw new SpatialDomainError('has zero area');
  return result;
}

export function geometryBbox(geometry: PolygonGeometry): Bbox {
  const [minX, minY, maxX, maxY] = turfBbox(geometry as never);
  return [minX, minY, maxX, maxY];
}

/** The WGS84 bounds of a Sentinel-2 (MGRS) tile id such as "33UXP": its 100 km grid square. */
export function mgrsTileBbox(tile: string): Bbox {
  const id = tile.trim().toUpperCase();
  if (!MGRS_TILE.test(id))
    throw new SpatialDomainError(
      `"${tile}" is not a Sentinel-2 MGRS tile id like 33UXP (zone 1-60, latitude band, two grid letters)`,
    );
  try {
    const [minX, minY, maxX, maxY] = mgrs.inverse(id.replace(/^0/, ''));
    return [minX, minY, maxX, maxY];
  } catch (error) {
    throw new SpatialDomainError(`"${tile}" is not a valid MGRS tile: ${(error as Error).message}`);
  }
}

/** The MGRS properties Earth Search items carry, to search one tile exactly. */
export function mgrsQuery(tile: string): Record<string, { eq: number | string }> {
  const id = tile.trim().toUpperCase().replace(/^0/, '');
  const match = /^(\d{1,2})([A-Z])([A-Z]{2})$/.exec(id)!;
  return {
    'mgrs:utm_zone': { eq: Number(match[1]) },
    'mgrs:latitude_band': { eq: match[2] },
    'mgrs:grid_square': { eq: match[3] },
  };
}

export function bboxPolygon([minX, minY, maxX, maxY]: Bbox): PolygonGeometry {
  return {
    type: 'Polygon',
    coordinates: [
      [
        [minX, minY],
        [maxX, minY],
        [maxX, maxY],
        [minX, maxY],
        [minX, minY],
      ],
    ],
  };
}

/** Geodesic area in km² of a bbox. */
export function bboxAreaKm2(bbox: Bbox): number {
  return area(bboxPolygon(bbox) as never) / 1e6;
}

/** Whether bbox `outer` contains bbox `inner` (both WGS84). */
export function bboxContains(outer: readonly number[], inner: Bbox): boolean {
  // STAC item bboxes may be 6 values (with heights): [minX, minY, minZ, maxX, maxY, maxZ].
  const [minX, minY, maxX, maxY] = outer.length === 6 ? [outer[0], outer[1], outer[3], outer[4]] : outer;
  return minX <= inner[0] && minY <= inner[1] && maxX >= inner[2] && maxY >= inner[3];
}
