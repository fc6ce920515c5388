import * as zlib from 'node:zlib';

/**
 * Minimal PNG encoder for palette images (colour type 3, 8 bits, PLTE + tRNS for alpha). Class-mask tiles
 * have a handful of colours, so one byte per pixel deflates 4x less data than RGBA and encodes in well under
 * a millisecond; every map client (Leaflet, OpenLayers, QGIS, browsers) reads palette PNGs with alpha.
 */
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** A palette entry: red, green, blue, alpha (0-255). */
export type Rgba = [number, number, number, number];

/** Encodes width x height palette indices (row-major) with up to 256 RGBA palette entries. */
export function encodePalettePng(width: number, height: number, indices: Uint8Array, palette: readonly Rgba[]): Buffer {
  if (indices.length !== width * height)
    throw new RangeError(`expected ${width * height} indices, got ${indices.length}`);
  if (palette.length === 0 || palette.length > 256)
    throw new RangeError(`a PNG palette has 1 to 256 entries, got ${palette.length}`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 3, 0, 0, 0], 8); // bit depth 8, colour type 3 (palette), deflate, adaptive filtering, no interlace
  const plte = Buffer.alloc(palette.length * 3);
  const trns = Buffer.alloc(palette.length);
  palette.forEach(([r, g, b, a], i) => {
    plte.set([r, g, b], i * 3);
    trns[i] = a;
  });
  // Filter type 0 (none) per row: palette indices do not predict well, and it keeps encoding cheap.
  const raw = Buffer.alloc((width + 1) * height);
  for (let row = 0; row < height; row++)
    raw.set(indices.subarray(row * width, (row + 1) * width), row * (width + 1) + 1);
  const idat = zlib.deflateSync(raw, { level: 6 });
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('PLTE', plte),
    chunk('tRNS', trns),
    chunk('IDAT', idat),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Encodes width x height RGBA pixels (row-major, 4 bytes each): true-colour tiles such as input previews. */
export function encodeRgbaPng(width: number, height: number, rgba: Uint8Array): Buffer {
  if (rgba.length !== width * height * 4)
    throw new RangeError(`expected ${width * height * 4} RGBA bytes, got ${rgba.length}`);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // bit depth 8, colour type 6 (RGBA), deflate, adaptive filtering, no interlace
  const rowBytes = width * 4;
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let row = 0; row < height; row++)
    raw.set(rgba.subarray(row * rowBytes, (row + 1) * rowBytes), row * (rowBytes + 1) + 1);
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(raw, { level: 6 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
