/** Georeferencing as a GeoTIFF stores it (its tags, copied verbatim between files) and what it says: CRS, bounds. */

/** What is needed to write another raster on the same grid (raw TIFF tag values, as in the input). */
export interface GeoReference {
  /** ModelPixelScaleTag (33550): [scaleX, scaleY, scaleZ]. */
  modelPixelScale?: number[];
  /** ModelTiepointTag (33922): [i, j, k, x, y, z, ...]. */
  modelTiepoint?: number[];
  /** ModelTransformationTag (34264): 4x4 row-major matrix. */
  modelTransformation?: number[];
  /** GeoKeyDirectoryTag (34735), raw. */
  geoKeyDirectory?: number[];
  /** GeoDoubleParamsTag (34736), raw. */
  geoDoubleParams?: number[];
  /** GeoAsciiParamsTag (34737), raw. */
  geoAsciiParams?: string;
  /** All GeoKeys by name as parsed by geotiff.js (e.g. ProjectedCSTypeGeoKey, GeographicTypeGeoKey). */
  geoKeys: Record<string, unknown>;
  /** GDAL_NODATA tag (42113) as written in the file, if any. */
  gdalNodata?: string;
}

/** EPSG code of the raster's CRS (ProjectedCSTypeGeoKey, else GeographicTypeGeoKey), or null (unknown / user-defined). */
export function epsgOf(georef: GeoReference): number | null {
  for (const key of ['ProjectedCSTypeGeoKey', 'GeographicTypeGeoKey']) {
    const value = georef.geoKeys[key];
    if (typeof value === 'number' && value > 0 && value !== 32767) return value;
  }
  return null;
}

/**
 * GDAL-style affine transform [a, b, c, d, e, f]: x = a*col + b*row + c, y = d*col + e*row + f
 * for pixel corner coordinates (rasterio's Affine order), or null without georeferencing.
 * A ModelTiepoint with PixelIsPoint raster type is shifted by half a pixel, as GDAL does.
 */
export function affineOf(georef: GeoReference): [number, number, number, number, number, number] | null {
  const m = georef.modelTransformation;
  let affine: [number, number, number, number, number, number] | null = null;
  if (m && m.length >= 16) {
    affine = [m[0]!, m[1]!, m[3]!, m[4]!, m[5]!, m[7]!];
  } else if (georef.modelPixelScale && georef.modelTiepoint && georef.modelTiepoint.length >= 6) {
    const [sx, sy] = georef.modelPixelScale as [number, number];
    const [i, j, , x, y] = georef.modelTiepoint as [number, number, number, number, number];
    affine = [sx, 0, x - i * sx, 0, -sy, y + j * sy];
  }
  if (affine && georef.geoKeys.GTRasterTypeGeoKey === 2) {
    // PixelIsPoint: the tie point is the centre of the pixel.
    affine = [
      affine[0],
      affine[1],
      affine[2] - 0.5 * (affine[0] + affine[1]),
      affine[3],
      affine[4],
      affine[5] - 0.5 * (affine[3] + affine[4]),
    ];
  }
  return affine;
}

/** Bounds [minX, minY, maxX, maxY] of a width x height grid under an affine transform. */
export function boundsOf(affine: readonly number[], width: number, height: number): [number, number, number, number] {
  const [a, b, c, d, e, f] = affine as [number, number, number, number, number, number];
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [col, row] of [
    [0, 0],
    [width, 0],
    [0, height],
    [width, height],
  ] as const) {
    xs.push(a * col + b * row + c);
    ys.push(d * col + e * row + f);
  }
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}
