/**
 * Vector predictions: each connected component of a class mask as a polygon in map coordinates, with its
 * class, pixel count and area. Features come out one by one (see polygonizeMask), in the output's CRS and in
 * WGS 84 (RFC 7946), so writers stream them; the sweep hands the event loop a turn now and then.
 */
import type { Feature, Polygon } from 'geojson';
import type { ModelClassSpec } from '../../../workflows/contract/model-spec';
import { hasMetreUnits, lonLatTransform } from '../crs/epsg';
import { affineOf, epsgOf } from '../raster/georeference';
import type { Raster } from '../raster/raster';
import { polygonizeRows, ringArea, simplifyRing } from './polygonize';

export interface VectorFeatureProperties {
  class_value: number;
  class_name: string;
  pixel_count: number;
  area_m2: number;
}

export type VectorFeature = Feature<Polygon, VectorFeatureProperties>;

export interface VectorizeOptions {
  classes: ModelClassSpec[];
  /** Values left out besides the background classes (the output's nodata). */
  skipValues?: number[];
  /** Douglas-Peucker tolerance in the output CRS's units; 0 or unset: exact pixel edges. */
  simplifyTolerance?: number;
}

export interface VectorizedFeature {
  /** In the output's CRS (coordinates as the GeoTIFF's grid gives them). */
  native: VectorFeature;
  /** In WGS 84 longitude/latitude, exterior counter-clockwise and holes clockwise (RFC 7946). */
  wgs84: VectorFeature;
}

const EARTH_RADIUS_M = 6378137;

/** Spherical area of a lon/lat ring in square metres (the formula of Chamberlain and Duquette, as turf uses). */
function sphericalRingArea(ring: Array<[number, number]>): number {
  let total = 0;
  const rad = Math.PI / 180;
  for (let i = 0; i + 1 < ring.length; i++) {
    const [lon1, lat1] = ring[i]!;
    const [lon2, lat2] = ring[i + 1]!;
    total += (lon2 - lon1) * rad * (2 + Math.sin(lat1 * rad) + Math.sin(lat2 * rad));
  }
  return Math.abs((total * EARTH_RADIUS_M * EARTH_RADIUS_M) / 2);
}

/** Orients a ring: counter-clockwise when `ccw` (x right, y up), else clockwise. */
function oriented(ring: Array<[number, number]>, ccw: boolean): Array<[number, number]> {
  return ringArea(ring) > 0 === ccw ? ring : [...ring].reverse();
}

/** The features of a class mask (band 1 of a georeferenced raster), one per connected component. */
export async function* vectorizeMask(raster: Raster, options: VectorizeOptions): AsyncGenerator<VectorizedFeature> {
  const affine = affineOf(raster.georef);
  if (!affine) throw new Error('the mask has no georeferencing, so it cannot be vectorized in map coordinates');
  const epsg = epsgOf(raster.georef);
  const toLonLat = lonLatTransform(epsg, 'vectorized in WGS 84');
  const [a, b, c, d, e, f] = affine;
  const names = new Map(options.classes.map((spec) => [spec.value, spec.name]));
  const skip = [
    ...options.classes.filter((spec) => spec.background).map((spec) => spec.value),
    ...(options.skipValues ?? []),
  ];
  const pixelArea = Math.abs(a * e - b * d);
  const metric = hasMetreUnits(epsg);
  const tolerance = options.simplifyTolerance ?? 0;
  const mask = raster.bands[0]!;
  const width = raster.width;
  const rowAt = (row: number) => mask.subarray(row * width, (row + 1) * width);
  for await (const component of polygonizeRows(rowAt, width, raster.height, { skipValues: skip })) {
    const native: Array<Array<[number, number]>> = [];
    for (const [index, ring] of component.rings.entries()) {
      const mapped = ring.map(([col, row]) => [a * col + b * row + c, d * col + e * row + f] as [number, number]);
      const simplified = tolerance > 0 ? simplifyRing(mapped, tolerance) : mapped;
      if (!simplified) {
        if (index === 0) native.push(mapped); // an exterior too small to simplify stays exact
        continue;
      }
      native.push(oriented(simplified, index === 0));
    }
    const wgs84 = native.map((ring, index) =>
      oriented(toLonLat.identity ? ring : ring.map((point) => toLonLat.inverse(point)), index === 0),
    );
    const area = metric
      ? component.pixelCount * pixelArea
      : wgs84.reduce((sum, ring, index) => sum + (index === 0 ? 1 : -1) * sphericalRingArea(ring), 0);
    const properties: VectorFeatureProperties = {
      class_value: component.value,
      class_name: names.get(component.value) ?? `class ${component.value}`,
      pixel_count: component.pixelCount,
      area_m2: Math.round(area * 100) / 100,
    };
    yield {
      native: { type: 'Feature', properties, geometry: { type: 'Polygon', coordinates: native } },
      wgs84: { type: 'Feature', properties, geometry: { type: 'Polygon', coordinates: wgs84 } },
    };
  }
}
