/**
 * Several tasks' vector files as one download, streamed: nothing holds more than one feature (GeoJSON) or
 * one read chunk (FlatGeobuf) at a time.
 */
import { createInterface } from 'node:readline';
import { PassThrough, Readable } from 'node:stream';
import { indexByteSize } from './fgb-index';
import { fgbHeaderInfo } from './vector-files';

/** Opens the next file's stream, in order; called lazily so only one source is open at once. */
export type StreamSource = () => Promise<Readable>;

/**
 * One GeoJSON FeatureCollection of the features of several files written by writeVectorFiles (one feature
 * per line between the collection's first and last lines).
 */
export function concatGeoJson(sources: StreamSource[]): Readable {
  async function* lines() {
    yield '{"type":"FeatureCollection","features":[\n';
    let first = true;
    for (const open of sources) {
      const reader = createInterface({ input: await open(), crlfDelay: Infinity });
      for await (const line of reader) {
        const feature = line.replace(/,$/, '');
        if (!feature.startsWith('{"type":"Feature"')) continue;
        yield (first ? '' : ',\n') + feature;
        first = false;
      }
    }
    yield '\n]}\n';
  }
  return Readable.from(lines());
}

const MAGIC_LENGTH = 8;

/**
 * One FlatGeobuf of several (same CRS and columns, as writeVectorFiles writes them): the given header (magic
 * bytes and a header with the summed feature count, no index), then each file's features after its own
 * header and spatial index.
 */
export function concatFlatGeobuf(header: Uint8Array, sources: StreamSource[]): Readable {
  const out = new PassThrough();
  const send = async (chunk: Buffer) => {
    if (chunk.length > 0 && !out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
  };
  void (async () => {
    try {
      out.write(header);
      for (const open of sources) {
        let skip: number | null = null;
        let pending = Buffer.alloc(0);
        for await (const chunk of await open()) {
          let buffer = chunk as Buffer;
          if (skip === null) {
            pending = Buffer.concat([pending, buffer]);
            if (pending.length < MAGIC_LENGTH + 4) continue;
            const headerEnd = fgbHeaderLength(pending);
            if (pending.length < headerEnd) continue;
            const { features, indexNodeSize } = fgbHeaderInfo(pending.subarray(MAGIC_LENGTH, headerEnd));
            skip = headerEnd + indexByteSize(features, indexNodeSize);
            buffer = pending;
          }
          if (skip >= buffer.length) {
            skip -= buffer.length;
            continue;
          }
          await send(buffer.subarray(skip));
          skip = 0;
        }
      }
      out.end();
    } catch (error) {
      out.destroy(error as Error);
    }
  })();
  return out;
}

/** Length of a FlatGeobuf file's magic bytes + size-prefixed header, from its first 12 bytes. */
export function fgbHeaderLength(first12: Buffer): number {
  if (first12.length < MAGIC_LENGTH + 4 || first12[0] !== 0x66 || first12[1] !== 0x67 || first12[2] !== 0x62)
    throw new Error('not a FlatGeobuf file');
  return MAGIC_LENGTH + 4 + first12.readUInt32LE(MAGIC_LENGTH);
}
