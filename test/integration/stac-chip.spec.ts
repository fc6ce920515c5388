import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/platform/config/config';
import { parseAllowedHosts } from '../../src/platform/config/allowed-hosts';
import { runChipScript } from '../../src/geo/stac/stac-fetch';
import { searchStac } from '../../src/geo/stac/stac';
import { checkChip, makeStacFixtures, s2Item, type StacFixtures } from '../support/stac-fixtures';
import { startRangeFileServer, startStacDouble } from '../support/stac-double';

/** The chip builder (python/stac_chip.py) on real COGs over HTTP range requests, and the STAC client on the double. */
describe('STAC chips from COGs over HTTP', () => {
  let fixtures: StacFixtures;
  let files: Awaited<ReturnType<typeof startRangeFileServer>>;
  let workDir: string;
  const config = loadConfig({ DATA_DIR: os.tmpdir() });
  const bands = ['blue', 'green', 'red', 'nir', 'swir16', 'swir22'];

  beforeAll(async () => {
    fixtures = await makeStacFixtures();
    files = await startRangeFileServer(fixtures.dir);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-stac-chip-'));
  });

  afterAll(async () => {
    await files?.close();
    fs.rmSync(fixtures.dir, { recursive: true, force: true });
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('builds the chip in model band order on a 10 m grid in the scene CRS, reading a small part of each COG', async () => {
    files.bytesServed.clear();
    const out = path.join(workDir, 'chip.tif');
    const summary = await runChipScript<{
      width: number;
      height: number;
      epsg: number;
      valid_fraction: number;
      classification_values: Record<string, number>;
    }>(config, {
      command: 'chip',
      bbox: fixtures.chipBbox,
      resolution: 10,
      nodata: 0,
      bands: bands.map((name, index) => ({ position: index + 1, href: files.url(`${name}.tif`), name })),
      out_chip: out,
      classification: { href: files.url('scl.tif'), nodata: 0, out: path.join(workDir, 'scl.tif') },
    });
    expect(summary.epsg).toBe(32633);
    expect(summary.valid_fraction).toBe(1);
    // ~3 km box: about 300 px, a little more because the WGS84 bbox is wider than the UTM square.
    expect(summary.width).toBeGreaterThanOrEqual(300);
    expect(summary.width).toBeLessThan(340);
    const check = await checkChip(out, fixtures.dir, bands);
    expect(check).toMatchObject({ count: 6, epsg: 32633, dtype: 'uint16', descriptions: bands });
    expect(check.transform[0]).toBe(10);
    expect(check.transform[4]).toBe(-10);
    expect(check.transform[2] % 10).toBe(0);
    // 10 m bands land on the source pixels exactly; 20 m bands are bilinear-resampled.
    for (const band of check.bands_check.slice(0, 4)) expect(band.equal_fraction).toBeGreaterThan(0.999);
    for (const band of check.bands_check.slice(4)) expect(band.correlation).toBeGreaterThan(0.9);
    expect(Object.keys(summary.classification_values)).toEqual(expect.arrayContaining(['8', '9']));
    // Range requests only: each 7 MB band file is read in a few 256x256 blocks.
    for (const name of [...bands, 'scl']) {
      const served = files.bytesServed.get(`${name}.tif`) ?? 0;
      expect(served).toBeGreaterThan(0);
      expect(served).toBeLessThan(0.2 * fixtures.sizes[`${name}.tif`] + 64 * 1024);
    }
    const total = [...files.bytesServed.values()].reduce((a, b) => a + b, 0);
    const whole = Object.values(fixtures.sizes).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThan(0.1 * whole);
    expect(files.requests.every((line) => !line.startsWith('GET') || /bytes=/.test(line))).toBe(true);
  });

  it('puts pixels outside a polygon to nodata', async () => {
    const [minX, minY, maxX, maxY] = fixtures.chipBbox;
    const triangle = {
      type: 'Polygon',
      coordinates: [
        [
          [minX, minY],
          [maxX, minY],
          [(minX + maxX) / 2, maxY],
          [minX, minY],
        ],
      ],
    };
    const out = path.join(workDir, 'poly.tif');
    await runChipScript(config, {
      command: 'chip',
      bbox: fixtures.chipBbox,
      geometry: triangle,
      resolution: 10,
      nodata: 0,
      bands: bands.map((name, index) => ({ position: index + 1, href: files.url(`${name}.tif`), name })),
      out_chip: out,
    });
    const check = await checkChip(out, fixtures.dir, bands, { polygon: triangle });
    expect(check.polygon_check!.outside).toBeGreaterThan(1000);
    expect(check.polygon_check!.outside_nodata_fraction).toBe(1);
    expect(check.polygon_check!.inside_valid_fraction).toBeGreaterThan(0.99);
  });

  it('fails with a readable, non-retryable reason for an asset that answers 404', async () => {
    await expect(
      runChipScript(config, {
        command: 'chip',
        bbox: fixtures.chipBbox,
        resolution: 10,
        nodata: 0,
        bands: [{ position: 1, href: files.url('missing.tif') }],
        out_chip: path.join(workDir, 'x.tif'),
      }),
    ).rejects.toMatchObject({ nonRetryable: true, message: expect.stringMatching(/missing\.tif/) });
  });

  describe('through the address-policy proxy (GDAL connects only where the policy allows)', () => {
    const policy = {
      allowPrivateAddresses: false,
      allowedHosts: parseAllowedHosts('localhost'),
      settingName: 'FETCH_ALLOW_PRIVATE_ADDRESSES',
    };
    const viaLocalhost = (name: string) => files.url(name).replace('127.0.0.1', 'localhost');
    const chipRequest = (href: (name: string) => string) => ({
      command: 'chip',
      bbox: fixtures.chipBbox,
      resolution: 10,
      nodata: 0,
      bands: [{ position: 1, href: href('red.tif'), name: 'red' }],
      out_chip: path.join(workDir, 'proxied.tif'),
    });

    it('reads assets of an allow-listed host through the proxy', async () => {
      files.requests.splice(0);
      const summary = await runChipScript<{ valid_fraction: number }>(
        config,
        chipRequest(viaLocalhost),
        {},
        undefined,
        policy,
      );
      expect(summary.valid_fraction).toBe(1);
      expect(files.requests.some((line) => line.includes('red.tif'))).toBe(true);
    });

    it('refuses an internal address, and a redirect to one, without GDAL reaching it', async () => {
      const redirector = http.createServer((request, response) =>
        response.writeHead(302, { location: files.url(request.url!.slice(1)) }).end(),
      );
      await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
      const redirectPort = (redirector.address() as AddressInfo).port;
      try {
        files.requests.splice(0);
        for (const href of [
          (name: string) => files.url(name), // 127.0.0.1: not on the allow-list
          (name: string) => `http://localhost:${redirectPort}/${name}`, // allowed, then 302 to 127.0.0.1
        ]) {
          await expect(runChipScript(config, chipRequest(href), {}, undefined, policy)).rejects.toMatchObject({
            nonRetryable: true,
            message: expect.stringMatching(
              /refused by the address policy: 127\.0\.0\.1:\d+: 127\.0\.0\.1 is a private/,
            ),
          });
        }
        expect(files.requests).toEqual([]);
      } finally {
        await new Promise<void>((resolve) => redirector.close(() => resolve()));
      }
    });
  });

  it('searches the double with POST paging and merged next bodies', async () => {
    const items = Array.from({ length: 5 }, (_, index) =>
      s2Item(`item-${index}`, {
        bbox: fixtures.sceneBbox,
        datetime: `2024-06-15T10:0${index}:00Z`,
        cloudCover: index * 10,
        assetUrl: files.url,
      }),
    );
    const double = await startStacDouble(items, { maxPageSize: 2 });
    try {
      const result = await searchStac(
        double.url,
        {
          collections: ['sentinel-2-l2a'],
          bbox: fixtures.chipBbox,
          datetime: '2024-06-15T00:00:00.000Z/2024-06-15T23:59:59.999Z',
          query: { 'eo:cloud_cover': { lte: 30 } },
          limit: 100,
        },
        { maxPages: 10, timeoutMs: 5000 },
      );
      expect(result.items.map((item) => item.id)).toEqual(['item-0', 'item-1', 'item-2', 'item-3']);
      expect(result.pages).toBe(2);
      expect(double.requests[1]).toMatchObject({
        collections: ['sentinel-2-l2a'],
        query: { 'eo:cloud_cover': { lte: 30 } },
        next: expect.any(String),
      });
    } finally {
      await double.close();
    }
  });
});
