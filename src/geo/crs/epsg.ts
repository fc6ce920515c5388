import * as fs from 'node:fs';
import * as path from 'node:path';
import proj4 from 'proj4';

/**
 * EPSG definitions from the `epsg-index` package (one JSON file per code, read on first use and kept), so
 * tiles, vectors and STAC footprints work in every EPSG CRS, not only WGS 84, Web Mercator and UTM.
 */
export interface EpsgDefinition {
  code: number;
  name: string;
  /** proj4 string (what proj4js transforms with). */
  proj4: string;
  /** OGC WKT 1 (e.g. for the STAC projection extension's `proj:wkt2` fallback or a .prj). */
  wkt: string;
  /** Linear or angular unit name, e.g. 'metre', 'degree'. */
  unit: string | null;
  geographic: boolean;
}

const INDEX_DIR = path.join(path.dirname(require.resolve('epsg-index/package.json')), 's');
const cache = new Map<number, EpsgDefinition | null>();

/** The definition of an EPSG code, or null when the index has none (unknown code or no proj4 form). */
export function epsgDefinition(code: number): EpsgDefinition | null {
  if (!Number.isInteger(code) || code <= 0) return null;
  const cached = cache.get(code);
  if (cached !== undefined) return cached;
  let definition: EpsgDefinition | null = null;
  try {
    const entry = JSON.parse(fs.readFileSync(path.join(INDEX_DIR, `${code}.json`), 'utf8')) as {
      name?: string;
      proj4?: string;
      wkt?: string;
      unit?: string | null;
      kind?: string;
    };
    if (entry.proj4)
      definition = {
        code,
        name: entry.name ?? `EPSG:${code}`,
        // `+type=crs` is PROJ 6 syntax proj4js does not know.
        proj4: entry.proj4.replace(/\s*\+type=crs\b/, ''),
        wkt: entry.wkt ?? '',
        unit: entry.unit ?? null,
        geographic: entry.kind === 'CRS-GEOGCRS' || /\+proj=longlat\b/.test(entry.proj4),
      };
  } catch {
    definition = null;
  }
  cache.set(code, definition);
  return definition;
}

export class UnsupportedCrsError extends Error {
  constructor(epsg: number | null, what = 'reprojected') {
    super(
      epsg === null
        ? `the raster has no EPSG code in its GeoKeys, so it cannot be ${what}`
        : `EPSG:${epsg} is not in the EPSG index (unknown code, or one without a proj4 definition), so the raster cannot be ${what}`,
    );
    this.name = 'UnsupportedCrsError';
  }
}

/** Converts geographic WGS 84 [lon, lat] to a CRS (forward) and back (inverse). */
export interface LonLatTransform {
  /** Identity when the CRS is geographic WGS 84 (no per-point work). */
  readonly identity: boolean;
  forward(lonLat: [number, number]): [number, number];
  inverse(xy: [number, number]): [number, number];
}

const WGS84 = '+proj=longlat +datum=WGS84 +no_defs';

export function lonLatTransform(epsg: number | null, what?: string): LonLatTransform {
  if (epsg === 4326) return { identity: true, forward: (p) => p, inverse: (p) => p };
  const definition = epsg === null ? null : epsgDefinition(epsg);
  if (!definition) throw new UnsupportedCrsError(epsg, what);
  const converter = proj4(WGS84, definition.proj4);
  return {
    identity: false,
    forward: (p) => converter.forward(p) as [number, number],
    inverse: (p) => converter.inverse(p) as [number, number],
  };
}

/** Whether the CRS has metre units, so a pixel's area is |det(affine)| square metres. */
export function hasMetreUnits(epsg: number | null): boolean {
  const definition = epsg === null ? null : epsgDefinition(epsg);
  if (!definition || definition.geographic) return false;
  return /\+units=m\b/.test(definition.proj4) || definition.unit === 'metre';
}
