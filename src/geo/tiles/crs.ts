import proj4 from 'proj4';

/**
 * proj4 definitions of the CRSs outputs come in. Outputs keep their input's CRS, which for satellite
 * scenes is nearly always WGS 84 / UTM (Sentinel-2, Landsat), ETRS89 / UTM or geographic WGS 84;
 * proj4js ships no EPSG database, so other codes are refused with a clear message.
 */
export function proj4Definition(epsg: number): string | null {
  if (epsg === 4326) return '+proj=longlat +datum=WGS84 +no_defs';
  if (epsg === 3857 || epsg === 900913)
    return '+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +no_defs';
  if (epsg >= 32601 && epsg <= 32660) return `+proj=utm +zone=${epsg - 32600} +datum=WGS84 +units=m +no_defs`;
  if (epsg >= 32701 && epsg <= 32760) return `+proj=utm +zone=${epsg - 32700} +south +datum=WGS84 +units=m +no_defs`;
  if (epsg >= 25828 && epsg <= 25838)
    return `+proj=utm +zone=${epsg - 25800} +ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs`;
  if (epsg === 4258) return '+proj=longlat +ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +no_defs';
  return null;
}

export class UnsupportedCrsError extends Error {
  constructor(epsg: number | null) {
    super(
      epsg === null
        ? 'the raster has no EPSG code in its GeoKeys, so it cannot be reprojected to Web Mercator tiles'
        : `EPSG:${epsg} is not supported for map tiles (supported: 4326, 3857, 4258, WGS 84 / UTM 326xx and 327xx, ETRS89 / UTM 25828-25838)`,
    );
    this.name = 'UnsupportedCrsError';
  }
}

/** Converts geographic WGS 84 [lon, lat] to the raster CRS (and back). */
export interface LonLatTransform {
  /** Identity when the raster CRS is geographic WGS 84 (no per-pixel work). */
  readonly identity: boolean;
  forward(lonLat: [number, number]): [number, number];
  inverse(xy: [number, number]): [number, number];
}

export function lonLatTransform(epsg: number | null): LonLatTransform {
  const definition = epsg === null ? null : proj4Definition(epsg);
  if (!definition) throw new UnsupportedCrsError(epsg);
  if (epsg === 4326) return { identity: true, forward: (p) => p, inverse: (p) => p };
  const converter = proj4('+proj=longlat +datum=WGS84 +no_defs', definition);
  return {
    identity: false,
    forward: (p) => converter.forward(p) as [number, number],
    inverse: (p) => converter.inverse(p) as [number, number],
  };
}
