import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { demoModelMetadata } from '../../scripts/demo-model';
import { resolveUrlSigningSecret } from '../../src/platform/storage/filesystem-object-store';
import { signTileToken } from '../../src/geo/tiles/tile-token';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { makeSampleGeoTiff, runPython } from '../support/python';
import { demoModelPaths } from '../support/services';
import { startTestStack, type TestStack } from '../support/stack';
import { colourTable, sampleTiles, tileRange } from '../support/tiles';

/**
 * Built-in map tiles end to end (no GeoServer): an inference with the demo model (outputs on MinIO, read by
 * HTTP range requests, or on the filesystem store, read from the file), the push step's
 * tile-set description, the tokened tile URL template from GET .../tasks, tiles fetched over HTTP at several
 * zoom levels and checked pixel by pixel against the output COG with GDAL/PROJ, and the 400/403/404 cases.
 */
describe.each(['minio', 'filesystem'] as const)(
  'map tiles of task outputs (built-in publisher, %s store)',
  (storage) => {
    let stack: TestStack;
    let api: ApiClient;
    let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
    let workDir: string;
    let modelName: string;
    let classes: Array<{ value: number; name: string; color?: string }>;

    beforeAll(async () => {
      workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-tiles-'));
      await makeSampleGeoTiff(path.join(workDir, 'a.tif'), 512, 7);
      fixtures = await startFixtureServer(workDir);
      stack = await startTestStack({ storage, env: { TILE_TOKEN_TTL_SECONDS: '3600' } });
      api = new ApiClient(stack.baseUrl);
      const { model, meta } = demoModelPaths();
      modelName = `csmask-tiles-${Date.now()}`;
      const metadata = demoModelMetadata(meta, modelName);
      classes = metadata.model_input_data_spec.classes;
      expect((await api.registerModel(metadata, model)).status).toBe(201);
    });

    afterAll(async () => {
      await stack?.stop();
      await fixtures?.close();
      fs.rmSync(workDir, { recursive: true, force: true });
    });

    it('serves tokened XYZ tiles that match the output COG pixel by pixel, and refuses bad requests', async () => {
      const created = await api.post('/api/v2/inference', {
        model_display_name: modelName,
        spatial_domain: { urls: [fixtures.url('a.tif')] },
        temporal_domain: ['2024-06-15'],
      });
      expect(created.status).toBe(201);
      const finished = await api.waitForInference(created.body.id);
      expect(finished.status).toBe('COMPLETED');
      const [task] = (await api.get(`/api/v2/inference/${created.body.id}/tasks`)).body.tasks as any[];

      // The push step describes the tile set; GET .../tasks adds the URL template with a fresh token.
      const push = task.outputs['push-to-geoserver'];
      expect(push).toMatchObject({
        publisher: 'builtin',
        tile_path_template: `/tiles/${task.task_id}/{z}/{x}/{y}.png`,
      });
      const [west, south, east, north] = push.bounds as number[];
      expect(west!).toBeGreaterThan(16);
      expect(east!).toBeGreaterThan(west!);
      expect(north!).toBeGreaterThan(south!);
      expect(push.maxzoom).toBe(13); // 20 m pixels at ~48.7 N
      expect(push.minzoom).toBeLessThanOrEqual(push.maxzoom);
      expect(task.tile_url_template).toMatch(
        new RegExp(
          `^${stack.baseUrl}/tiles/${task.task_id}/\\{z\\}/\\{x\\}/\\{y\\}\\.png\\?token=\\d+\\.[0-9a-f]{64}$`,
        ),
      );
      const expiresAt = Date.parse(task.tile_url_expires_at);
      expect(expiresAt - Date.now()).toBeGreaterThan(3500_000);
      expect(expiresAt - Date.now()).toBeLessThanOrEqual(3600_000);

      const tileUrl = (
        z: number | string,
        x: number | string,
        y: number | string,
        template: string = task.tile_url_template,
      ) => template.replace('{z}', String(z)).replace('{x}', String(x)).replace('{y}', String(y));

      // Tiles at full resolution, one zoom past it, and the overview's zooms; checked against the COG.
      const cog = path.join(workDir, 'output.tif');
      fs.writeFileSync(
        cog,
        Buffer.from(
          await (await fetch((await api.get(`/api/v2/tasks/${task.task_id}/output-url`)).body.url)).arrayBuffer(),
        ),
      );
      const tiles: Array<{ z: number; x: number; y: number; png: string; level: number }> = [];
      for (const z of [push.maxzoom + 1, push.maxzoom, push.maxzoom - 1, push.maxzoom - 2]) {
        for (const [x, y] of sampleTiles(tileRange(push.bounds, z), 6)) {
          const response = await fetch(tileUrl(z, x, y));
          expect(response.status).toBe(200);
          expect(response.headers.get('content-type')).toBe('image/png');
          const file = path.join(workDir, `${z}-${x}-${y}.png`);
          fs.writeFileSync(file, Buffer.from(await response.arrayBuffer()));
          tiles.push({ z, x, y, png: file, level: Number(response.headers.get('x-tile-source-level')) });
        }
      }
      expect(tiles.some((t) => t.level === 0) && tiles.some((t) => t.level === 1)).toBe(true);
      fs.writeFileSync(
        path.join(workDir, 'manifest.json'),
        JSON.stringify({ raster: cog, colours: colourTable(classes), tiles }),
      );
      const lines = (await runPython('test/support/check_tiles.py', [path.join(workDir, 'manifest.json')]))
        .trim()
        .split('\n');
      const summary = JSON.parse(lines.pop()!);
      console.log(
        `tiles over HTTP (${storage}): ${summary.tiles} tiles, ${summary.pixels} pixels, ${summary.opaque} opaque, ${summary.mismatches} mismatches`,
      );
      expect(summary).toMatchObject({ tiles: tiles.length, level_mismatches: 0 });
      expect(summary.opaque).toBeGreaterThan(50_000);
      expect(summary.mismatches).toBeLessThanOrEqual(Math.ceil(summary.pixels * 1e-4));
      expect(summary.max_mismatch_edge_distance).toBeLessThan(2e-3);

      // Far from the raster: a transparent tile (map clients ask for whole viewports), read from nothing.
      const away = await fetch(tileUrl(push.maxzoom, 0, 0));
      expect(away.status).toBe(200);
      expect(away.headers.get('x-tile-source-level')).toBe('-1');

      // Tokens: missing, tampered, for another task, expired -> 403 naming the problem.
      const [base, token] = task.tile_url_template.split('?token=') as [string, string];
      const [z, x, y] = [tiles[0]!.z, tiles[0]!.x, tiles[0]!.y];
      const expectError = async (url: string, status: number, message: RegExp) => {
        const response = await fetch(url);
        expect(response.status).toBe(status);
        const body = (await response.json()) as { message: string };
        expect(body.message).toMatch(message);
      };
      await expectError(tileUrl(z, x, y, base), 403, /need the token query parameter/);
      const tampered = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
      await expectError(tileUrl(z, x, y, `${base}?token=${tampered}`), 403, /invalid tile token/);
      await expectError(tileUrl(z, x, y, `${base}?token=not-a-token`), 403, /malformed/);
      const secret = resolveUrlSigningSecret(stack.config);
      const expired = signTileToken(task.task_id, Math.floor(Date.now() / 1000) - 5, secret);
      await expectError(tileUrl(z, x, y, `${base}?token=${expired}`), 403, /expired/);
      const otherTask = `${created.body.id}-task-999`;
      await expectError(
        tileUrl(z, x, y, `${base}?token=${signTileToken(otherTask, Math.floor(Date.now() / 1000) + 60, secret)}`),
        403,
        /invalid tile token/,
      );

      // A valid token for a task that does not exist -> 404.
      const unknownBase = `${stack.baseUrl}/tiles/${otherTask}/{z}/{x}/{y}.png?token=${signTileToken(otherTask, Math.floor(Date.now() / 1000) + 60, secret)}`;
      await expectError(tileUrl(z, x, y, unknownBase), 404, new RegExp(`task ${otherTask} not found`));

      // The map page: Leaflet fitted to the bounds, tiles from the same token.
      expect(task.map_url).toBe(`${stack.baseUrl}/map/${task.task_id}?token=${token}`);
      const page = await fetch(task.map_url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      const html = await page.text();
      expect(html).toContain(`"../tiles/${task.task_id}/{z}/{x}/{y}.png?token=${token}"`);
      expect(html).toContain(`map.fitBounds([[${south}, ${west}], [${north}, ${east}]])`);
      await expectError(`${stack.baseUrl}/map/${task.task_id}?token=${tampered}`, 403, /invalid tile token/);

      // Bad z/x/y -> 400 naming the coordinate.
      await expectError(tileUrl(25, 0, 0), 400, /zoom must be a whole number from 0 to 24, got 25/);
      await expectError(tileUrl(3, 8, 0), 400, /x must be a whole number from 0 to 7 at zoom 3, got 8/);
      await expectError(tileUrl(3, 0, -1), 400, /invalid tile 3\/0\/-1/);
      await expectError(tileUrl('a', 0, 0), 400, /invalid tile a\/0\/0/);
    });
  },
);
