import * as zlib from 'node:zlib';
import { classColourMap, DEFAULT_CLASS_COLORS } from '../../src/geo/tiles/cog-tiles';
import { encodePalettePng } from '../../src/geo/tiles/png';
import { signTileToken, verifyTileToken } from '../../src/geo/tiles/tile-token';
import { invalidTile, lonLatToMercator, mercatorToLonLat, tileBounds } from '../../src/geo/tiles/web-mercator';

const SECRET = 'unit-test-secret-0123456789';

describe('tile tokens', () => {
  const now = 1_800_000_000;
  const token = signTileToken('task-a', now + 60, SECRET);

  it('accept their own task until they expire', () => {
    expect(verifyTileToken('task-a', token, SECRET, now)).toEqual({ valid: true, expires: now + 60 });
    expect(verifyTileToken('task-a', token, SECRET, now + 61)).toEqual({ valid: false, reason: 'expired' });
  });

  it('refuse another task, another secret, tampering and junk', () => {
    expect(verifyTileToken('task-b', token, SECRET, now)).toEqual({ valid: false, reason: 'bad-signature' });
    expect(verifyTileToken('task-a', token, 'another-secret-0123456789', now)).toEqual({
      valid: false,
      reason: 'bad-signature',
    });
    expect(verifyTileToken('task-a', token.replace(/^\d+/, String(now + 9999)), SECRET, now)).toEqual({
      valid: false,
      reason: 'bad-signature',
    });
    expect(verifyTileToken('task-a', undefined, SECRET, now)).toEqual({ valid: false, reason: 'missing' });
    expect(verifyTileToken('task-a', ['a', 'b'], SECRET, now)).toEqual({ valid: false, reason: 'malformed' });
    expect(verifyTileToken('task-a', 'x.y', SECRET, now)).toEqual({ valid: false, reason: 'malformed' });
  });
});

describe('web mercator grid', () => {
  it('checks z/x/y', () => {
    expect(invalidTile(0, 0, 0)).toBeNull();
    expect(invalidTile(24, 2 ** 24 - 1, 0)).toBeNull();
    expect(invalidTile(25, 0, 0)).toMatch(/zoom/);
    expect(invalidTile(2, 4, 0)).toMatch(/x must be .* 0 to 3/);
    expect(invalidTile(2, 0, -1)).toMatch(/y must be/);
    expect(invalidTile(Number.NaN, 0, 0)).toMatch(/zoom/);
  });

  it('has tile 0/0/0 spanning the world and round-trips coordinates', () => {
    expect(tileBounds(0, 0, 0).map(Math.round)).toEqual([-20037508, -20037508, 20037508, 20037508]);
    const [x, y] = lonLatToMercator(16.37, 48.2);
    const [lon, lat] = mercatorToLonLat(x, y);
    expect(lon).toBeCloseTo(16.37, 10);
    expect(lat).toBeCloseTo(48.2, 10);
  });
});

describe('class colours and PNG', () => {
  it('maps classes to opaque palette entries, nodata and unknown values to transparent', () => {
    const map = classColourMap(
      [
        { value: 0, name: 'a', color: '#102030' },
        { value: 5, name: 'b' },
        { value: 255, name: 'nodata-class' },
      ],
      255,
    );
    expect(map.palette).toEqual([
      [0, 0, 0, 0],
      [16, 32, 48, 255],
      [0x37, 0x7e, 0xb8, 255],
    ]);
    expect(DEFAULT_CLASS_COLORS[1]).toBe('#377eb8'); // class 2 of the spec without a colour
    expect([0, 5, 255, 7, 1.5].map((v) => map.indexOf(v))).toEqual([1, 2, 0, 0, 0]);
  });

  it('writes a palette PNG with alpha that inflates back to the indices', () => {
    const indices = Uint8Array.from({ length: 4 * 3 }, (_, i) => i % 3);
    const png = encodePalettePng(4, 3, indices, [
      [0, 0, 0, 0],
      [255, 0, 0, 255],
      [0, 0, 255, 255],
    ]);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const chunks = new Map<string, Buffer>();
    for (let offset = 8; offset < png.length;) {
      const length = png.readUInt32BE(offset);
      const type = png.subarray(offset + 4, offset + 8).toString('latin1');
      const data = png.subarray(offset + 8, offset + 8 + length);
      expect(png.readUInt32BE(offset + 8 + length)).toBe(zlib.crc32(png.subarray(offset + 4, offset + 8 + length)));
      chunks.set(type, data);
      offset += 12 + length;
    }
    expect([...chunks.keys()]).toEqual(['IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND']);
    expect(chunks.get('tRNS')).toEqual(Buffer.from([0, 255, 255]));
    const raw = zlib.inflateSync(chunks.get('IDAT')!);
    const rows = [0, 1, 2].map((r) => [...raw.subarray(r * 5, r * 5 + 5)]);
    expect(rows).toEqual([0, 1, 2].map((r) => [0, ...indices.subarray(r * 4, r * 4 + 4)]));
  });
});
