import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readGeoTiff } from '../../src/geo/raster/decode';
import {
  assembleMaskCog,
  blockRowCount,
  encodeMaskBlockRow,
  maskCogLayout,
} from '../../src/geo/raster/streaming-mask-cog';
import { compareMasks, validateCogs } from '../support/python';

/** Streamed mask COGs through GDAL's own COG validator and rasterio (byte equality with encodeMaskCog is a unit test). */
describe('assembleMaskCog, checked by GDAL', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'streaming-cog-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes files GDAL's COG validator accepts with no warning or error, pixels and grid as given", async () => {
    const georef = (await readGeoTiff(path.join(__dirname, '..', 'fixtures', 'raster-uint8-raw.tif'))).georef;
    const cases = [
      { width: 1, height: 1, blockSize: 256, nodata: 255 },
      { width: 1100, height: 900, blockSize: 256, nodata: 255 },
      { width: 600, height: 1000, blockSize: 512, nodata: 0 },
      { width: 3, height: 1207, blockSize: 256, nodata: 7 },
    ];
    const files: string[] = [];
    for (const c of cases) {
      const layout = maskCogLayout(c.width, c.height, c);
      const mask = new Uint8Array(c.width * c.height).map((_, i) =>
        i % c.width < 2 ? c.nodata : (Math.floor((i % c.width) / 37) + Math.floor(i / c.width / 23)) % 4,
      );
      const rows = await Promise.all(
        Array.from({ length: blockRowCount(layout) }, (_, row) =>
          encodeMaskBlockRow(
            layout,
            row,
            mask.subarray(row * c.blockSize * c.width, Math.min(c.height, (row + 1) * c.blockSize) * c.width),
          ),
        ),
      );
      const out = path.join(dir, `streamed-${c.width}x${c.height}.tif`);
      await assembleMaskCog(layout, georef, async (row) => rows[row]!, out);
      files.push(out);
      const back = await readGeoTiff(out);
      expect(Buffer.from(back.bands[0]!.buffer).equals(Buffer.from(mask.buffer))).toBe(true);
    }
    const report = await validateCogs(files);
    for (const file of files)
      expect([path.basename(file), report[file]]).toEqual([path.basename(file), { warnings: [], errors: [] }]);
    const comparison = await compareMasks(files[1]!, files[1]!);
    expect(comparison.shape_a).toEqual([900, 1100]);
    expect(comparison.nodata_a).toBe(255);
    expect(comparison.crs_a).toBeTruthy();
  });
});
