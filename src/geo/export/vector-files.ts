/**
 * Writes vectorized features as files, one feature at a time (nothing holds all of them):
 * - GeoJSON (RFC 7946): WGS 84 lon/lat, a FeatureCollection with one feature per line;
 * - FlatGeobuf in the output's CRS (EPSG code in its header) with its packed Hilbert R-tree spatial index
 *   (see fgb-index.ts), so GDAL, QGIS and pyogrio read a bbox without the whole file. Header and index need
 *   every feature's bbox and size, so features go to a scratch file first (only their bboxes and sizes stay in
 *   memory) and are copied after the index in Hilbert order.
 */
import { createWriteStream, promises as fsp, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { VectorizedFeature } from './vectors';
import { BoxList, hilbertOrder, INDEX_NODE_SIZE, packedRTree } from './fgb-index';

// flatgeobuf ships ES modules only (loaded through require(esm)); its generic writer pieces build header and
// features separately, which the streaming writer needs (its own `serialize` wants every feature at once).
/* eslint-disable @typescript-eslint/no-require-imports */
const { buildHeader } = require('flatgeobuf/lib/mjs/generic/featurecollection.js') as {
  buildHeader(header: FgbHeaderMeta, crsCode?: number): Uint8Array;
};
const flatbuffers = require('flatbuffers') as {
  Builder: new () => FlatBuilder;
  ByteBuffer: new (bytes: Uint8Array) => unknown;
};
const { Header } = require('flatgeobuf/lib/mjs/flat-geobuf/header.js') as { Header: FgbHeaderTable };
const { Column } = require('flatgeobuf/lib/mjs/flat-geobuf/column.js') as { Column: FgbColumnTable };
const { Crs } = require('flatgeobuf/lib/mjs/flat-geobuf/crs.js') as { Crs: FgbCrsTable };
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

interface FlatBuilder {
  createString(value: string): number;
  finishSizePrefixed(offset: number): void;
  asUint8Array(): Uint8Array;
}
/* eslint-disable @typescript-eslint/no-explicit-any */
type FgbHeaderTable = Record<string, (...args: any[]) => any> & {
  getRootAsHeader(bb: unknown): { featuresCount(): bigint; indexNodeSize(): number };
};
type FgbColumnTable = Record<string, (...args: any[]) => any>;
type FgbCrsTable = Record<string, (...args: any[]) => any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

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

/** The start of a vectors FlatGeobuf without an index (magic bytes and header) holding `features` features. */
export function flatGeobufHeader(features: number, epsg: number | null): Buffer {
  return Buffer.concat([magicbytes, buildHeader(fgbHeaderMeta(features), epsg ?? 0)]);
}

/** Magic bytes and header of an indexed vectors FlatGeobuf (the package's buildHeader writes no index). */
export function indexedFlatGeobufHeader(
  features: number,
  epsg: number | null,
  envelope: [number, number, number, number],
): Buffer {
  const meta = fgbHeaderMeta(features);
  const builder = new flatbuffers.Builder();
  const columns = meta.columns.map((column) => {
    const name = builder.createString(column.name);
    Column.startColumn!(builder);
    Column.addName!(builder, name);
    Column.addType!(builder, column.type);
    return Column.endColumn!(builder) as number;
  });
  const columnsVector = Header.createColumnsVector!(builder, columns) as number;
  const envelopeVector = Header.createEnvelopeVector!(builder, envelope) as number;
  const name = builder.createString('L1');
  let crs = 0;
  if (epsg) {
    Crs.startCrs!(builder);
    Crs.addCode!(builder, epsg);
    crs = Crs.endCrs!(builder) as number;
  }
  Header.startHeader!(builder);
  if (crs) Header.addCrs!(builder, crs);
  Header.addEnvelope!(builder, envelopeVector);
  Header.addFeaturesCount!(builder, BigInt(features));
  Header.addGeometryType!(builder, meta.geometryType);
  Header.addIndexNodeSize!(builder, INDEX_NODE_SIZE);
  Header.addColumns!(builder, columnsVector);
  Header.addName!(builder, name);
  builder.finishSizePrefixed(Header.endHeader!(builder) as number);
  return Buffer.concat([magicbytes, builder.asUint8Array()]);
}

/** Feature count and index node size (0: no index) from a FlatGeobuf's size-prefixed header bytes. */
export function fgbHeaderInfo(headerWithPrefix: Uint8Array): { features: number; indexNodeSize: number } {
  const header = Header.getRootAsHeader(new flatbuffers.ByteBuffer(headerWithPrefix.subarray(4)));
  return { features: Number(header.featuresCount()), indexNodeSize: header.indexNodeSize() };
}

/** The bbox of a polygon's exterior ring. */
function ringBox(ring: number[][]): [number, number, number, number] {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const [x, y] of ring) {
    if (x! < minX) minX = x!;
    if (y! < minY) minY = y!;
    if (x! > maxX) maxX = x!;
    if (y! > maxY) maxY = y!;
  }
  return [minX, minY, maxX, maxY];
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
  const boxes = new BoxList();
  let lengths = new Uint32Array(1024);
  try {
    await write(geojson, '{"type":"FeatureCollection","features":[\n');
    for await (const feature of features) {
      await write(geojson, (summary.features > 0 ? ',\n' : '') + JSON.stringify(feature.wgs84));
      const bytes = buildFeature(parseGeometry(feature.native.geometry), { ...feature.native.properties }, header);
      await write(fgbFeatures, bytes);
      const [minX, minY, maxX, maxY] = ringBox(feature.native.geometry.coordinates[0]!);
      boxes.add(minX, minY, maxX, maxY);
      if (summary.features === lengths.length) {
        const grown = new Uint32Array(lengths.length * 2);
        grown.set(lengths);
        lengths = grown;
      }
      lengths[summary.features] = bytes.length;
      summary.features++;
      const name = feature.native.properties.class_name;
      summary.features_by_class[name] = (summary.features_by_class[name] ?? 0) + 1;
      summary.area_m2_by_class[name] =
        Math.round(((summary.area_m2_by_class[name] ?? 0) + feature.native.properties.area_m2) * 100) / 100;
    }
    await write(geojson, '\n]}\n');
    await close(geojson);
    await close(fgbFeatures);
    await writeIndexedFlatGeobuf(target, scratch, boxes, lengths.subarray(0, summary.features));
  } finally {
    geojson.destroy();
    fgbFeatures.destroy();
    await fsp.rm(scratch, { force: true });
  }
  return summary;
}

/** Header, index and the scratch file's features in Hilbert order (copied in batches of positioned reads). */
async function writeIndexedFlatGeobuf(
  target: VectorFilesTarget,
  scratch: string,
  boxes: BoxList,
  lengths: Uint32Array,
): Promise<void> {
  const fgb = createWriteStream(target.fgbPath);
  try {
    if (boxes.count === 0) {
      // No features, no index (an index needs at least one node).
      await write(fgb, flatGeobufHeader(0, target.epsg));
      await close(fgb);
      return;
    }
    const extent = boxes.extent();
    const order = hilbertOrder(boxes, extent);
    await write(fgb, indexedFlatGeobufHeader(boxes.count, target.epsg, extent));
    await write(fgb, packedRTree(boxes, order, lengths));
    const offsets = new Float64Array(lengths.length);
    for (let i = 1; i < lengths.length; i++) offsets[i] = offsets[i - 1]! + lengths[i - 1]!;
    const source = await fsp.open(scratch, 'r');
    try {
      for (const index of order) {
        const bytes = Buffer.allocUnsafe(lengths[index]!);
        await source.read(bytes, 0, bytes.length, offsets[index]!);
        await write(fgb, bytes);
      }
    } finally {
      await source.close();
    }
    await close(fgb);
  } finally {
    fgb.destroy();
  }
}
