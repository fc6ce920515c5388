/**
 * DEFLATE on node:zlib's thread pool instead of pako on the main thread, for every geotiff.js read (registered
 * with addDecoder; geotiff's BaseDecoder.decode still applies the TIFF predictor) and for our own block decoding
 * and encoding.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { addDecoder, BaseDecoder } from 'geotiff';
import { ownArrayBuffer } from './buffers';

export const inflateAsync = promisify(zlib.inflate);
export const deflateAsync = promisify(zlib.deflate);

/** Blocks inflated or deflated at once: enough to keep the libuv thread pool busy. */
export const BLOCKS_IN_FLIGHT = Math.max(4, 2 * Number(process.env.UV_THREADPOOL_SIZE ?? 4));

/** DEFLATE via node:zlib; BaseDecoder.decode() runs geotiff's predictor on what decodeBlock returns. */
class NativeDeflateDecoder extends BaseDecoder {
  async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    // Large output chunks: zlib's default 16 kB chunks cost a thread-pool round trip each.
    const chunkSize = Math.min(8 << 20, Math.max(zlib.constants.Z_MIN_CHUNK, buffer.byteLength * 4));
    const out = await inflateAsync(new Uint8Array(buffer), { chunkSize });
    // The predictor builds typed-array views from offset 0 of the returned buffer: hand back an
    // ArrayBuffer that holds exactly the inflated bytes.
    return ownArrayBuffer(out);
  }
}

let decoderRegistered = false;
/** Registers the native DEFLATE decoder for compression codes 8 and 32946 (idempotent, process-wide). */
export function registerNativeDeflate(): void {
  if (decoderRegistered) return;
  addDecoder([8, 32946], () => NativeDeflateDecoder);
  decoderRegistered = true;
}
