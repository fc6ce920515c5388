/**
 * Writes vectorized features as files, one feature at a time (nothing holds all of them):
 * - GeoJSON (RFC 7946): WGS 84 lon/lat, a FeatureCollection with one feature per line;
 * - FlatGeobuf in the output's CRS (EPSG code in its header), no spatial index, features in mask order. Its
 *   header needs the feature count, so features go to a scratch file first and are appended after it.
 */
import { createReadStream, createWriteStream, promises as fsp, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import type { VectorizedFeature } from './vectors';

// flatgeobuf ships ES modules only (loaded through require(esm)); its generic writer pieces build header and
// features separately, which the streaming writer needs (its own `serialize` wants every feature at once).
/* eslint-disable @typescript-eslint/no-require-imports */
const { buildHeader } = require('flatgeobuf/lib/mjs/generic/featurecollection.js') as {
  buildHeader(header: FgbHeaderMeta, crsCode?: number): Uint8Array;
};
const { buildFeature } = require('flatgeobuf/lib/mjs/generic/feature.js') as {
  buildFeature(geometry: unknown, properties: Record<string, unknown>, header: FgbHeaderMeta): Uint8Array;
};
const { parseGeometry } = require('flatgeobuf/lib/mjs/geojson/geometry.js') as {
  parseGeometry(geometry: unknown): unknown;
};
const { magicbytes } = require('flatgeobuf/lib/mjs/constants.js') as { magicbytes: Uint8Array };
const { ColumnType } = require('flatgeobuf/lib/mjs/flat-geobuf/column-type.js') as {
  ColumnType: Record<'Int' | 'Long' | 'Double' | 'String', number>;
};
const { GeometryType } = require('flatgeobuf/lib/mjs/flat-geobuf/geometry-type.js') as {
  GeometryType: Record<'Polygon', number>;
};
/* eslint-enable @typescript-eslint/no-require-imports */

interface FgbColumn {
  name: string;
  type: number;
  title: null;
  description: null;
  width: number;
  precision: number;
  scale: number;
  nullable: boolean;
  unique: boolean;
  primary_key: boolean;
}

interface FgbHeaderMeta {
  geometryType: number;
  columns: FgbColumn[];
  envelope: null;
  featuresCount: number;
  indexNodeSize: number;
  crs: null;
  title: null;
  description: null;
  metadata: null;
}

const column = (name: string, type: number): FgbColumn => ({
  name,
  type,
  title: null,
  description: null,
  width: -1,
  precision: -1,
  scale: -1,
  nullable: false,
  unique: false,
  primary_key: false,
});

function fgbHeaderMeta(featuresCount: number): FgbHeaderMeta {
  return {
    geometryType: GeometryType.Polygon,
    columns: [
      column('class_value', ColumnType.Int),
      column('class_name', ColumnType.String),
      column('pixel_count', ColumnType.Long),
      column('area_m2', ColumnType.Double),
    ],
    envelope: null,
    featuresCount,
    indexNodeSize: 0,
    crs: null,
    title: null,
    description: null,
    metadata: null,
  };
}

export interface VectorFilesTarget {
  geojsonPath: string;
  fgbPath: string;
  /** EPSG code of the output's CRS, written in the FlatGeobuf header (0: unknown). */
  epsg: number | null;
}

export interface VectorFilesSummary {
  features: number;
  /** Features by class name. */
  features_by_class: Record<string, number>;
  /** Summed polygon area by class name, in m^2. */
  area_m2_by_class: Record<string, number>;
}

/** The start of a vectors FlatGeobuf (magic bytes and header) holding `features` features. */
export function flatGeobufHeader(features: number, epsg: number | null): Buffer {
  return Buffer.concat([magicbytes, buildHeader(fgbHeaderMeta(features), epsg ?? 0)]);
}

async function write(stream: WriteStream, chunk: string | Uint8Array): Promise<void> {
  if (!stream.write(chunk)) await once(stream, 'drain');
}

async function close(stream: WriteStream): Promise<void> {
  stream.end();
  await once(stream, 'finish');
}

/** Writes the features to both files; returns how many there were, by class. */
export async function writeVectorFiles(
  features: AsyncIterable<VectorizedFeature> | Iterable<VectorizedFeature>,
  target: VectorFilesTarget,
): Promise<VectorFilesSummary> {
  const summary: VectorFilesSummary = { features: 0, features_by_class: {}, area_m2_by_class: {} };
  const header = fgbHeaderMeta(0);
  const scratch = `${target.fgbPath}.features`;
  const geojson = createWriteStream(target.geojsonPath);
  const fgbFeatures = createWriteStream(scratch);
  try {
    await write(geojson, '{"type":"FeatureCollection","features":[\n');
    for await (const feature of features) {
      await write(geojson, (summary.features > 0 ? ',\n' : '') + JSON.stringify(feature.wgs84));
      await write(
        fgbFeatures,
        buildFeature(parseGeometry(feature.native.geometry), { ...feature.native.properties }, header),
      );
      summary.features++;
      const name = feature.native.properties.class_name;
      summary.features_by_class[name] = (summary.features_by_class[name] ?? 0) + 1;
      summary.area_m2_by_class[name] =
        Math.round(((summary.area_m2_by_class[name] ?? 0) + feature.native.properties.area_m2) * 100) / 100;
    }
    await write(geojson, '\n]}\n');
    await close(geojson);
    await close(fgbFeatures);
    const fgb = createWriteStream(target.fgbPath);
    await write(fgb, flatGeobufHeader(summary.features, target.epsg));
    await pipeline(createReadStream(scratch), fgb);
  } finally {
    geojson.destroy();
    fgbFeatures.destroy();
    await fsp.rm(scratch, { force: true });
  }
  return summary;
}
