import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import puppeteer, { type Browser, type HTTPResponse, type Page } from 'puppeteer-core';
import { buildConsole } from '../../scripts/build-console';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startFixtureServer } from '../support/fixture-server';
import { decodePng } from '../support/png';
import { makeSampleGeoTiff, REPO_ROOT } from '../support/python';
import { demoModelPaths } from '../support/services';
import { startTestStack, USERS, type TestStack } from '../support/stack';

// Callbacks given to page.evaluate run in the browser; this project compiles without the DOM library.
declare const document: any, window: any, location: any, sessionStorage: any, MutationObserver: any;

const LAPTOP = { width: 1366, height: 800 };
const PHONE = { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
/** Screenshots for a person to look at (and for docs/console-*.png). */
const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS_DIR ?? path.join(REPO_ROOT, '.data', 'console-screenshots');

function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('CHROMIUM_PATH is not set and chromium is not on PATH: run `bash scripts/provision.sh test`');
  }
}

/** A download that sends its first bytes, then waits for release(): a fetch step that runs until told. */
async function startHeldServer(file: string) {
  const bytes = fs.readFileSync(file);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests += 1;
    response.writeHead(200, { 'Content-Type': 'image/tiff', 'Content-Length': bytes.length });
    response.write(bytes.subarray(0, 4096));
    void released.then(() => response.end(bytes.subarray(4096)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/held.tif`,
    release,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The web console in a real Chromium (Debian's, driven by puppeteer-core) against the real stack: sign in,
 * forms, live status, the result map's pixels. Any console error, failed page script, request to another
 * host than the API, or unexpected HTTP error fails the test.
 */
describe('web console (Chromium)', () => {
  let stack: TestStack;
  let api: ApiClient;
  let browser: Browser;
  let fixtures: Awaited<ReturnType<typeof startFixtureServer>>;
  let held: Awaited<ReturnType<typeof startHeldServer>>;
  let workDir: string;
  let modelId: string;
  let modelName: string;
  let apiHost: string;
  const problems: string[] = [];
  /** HTTP errors a test provokes on purpose (method, path pattern, status). */
  const expectedErrors: Array<[string, RegExp, number]> = [
    // Until the events stream exists the console asks for its token, gets 404 and polls instead.
    ['POST', /^\/api\/v2\/inference\/[0-9a-f-]{36}\/events\/token$/, 404],
  ];

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-console-'));
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await Promise.all([
      makeSampleGeoTiff(path.join(workDir, 'sample.tif'), 512, 7),
      ...[1, 2, 3].map((seed) => makeSampleGeoTiff(path.join(workDir, `upload-${seed}.tif`), 256, seed)),
    ]);
    const built = await buildConsole(path.join(workDir, 'console'));
    fixtures = await startFixtureServer(workDir);
    held = await startHeldServer(path.join(workDir, 'upload-1.tif'));
    stack = await startTestStack({ storage: 'filesystem', env: { CONSOLE_DIR: built.outdir } });
    apiHost = new URL(stack.baseUrl).host;
    api = new ApiClient(stack.baseUrl);
    modelName = `csmask-console-${Date.now()}`;
    const registered = await api.registerModel(
      demoModelMetadata(demoModelPaths().meta, modelName),
      demoModelPaths().model,
    );
    expect(registered.status).toBe(201);
    modelId = registered.body.id;
    browser = await puppeteer.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await held?.close();
    await fixtures?.close();
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  afterEach(() => {
    const found = problems.splice(0);
    expect(found).toEqual([]);
  });

  function expected(response: HTTPResponse): boolean {
    const url = new URL(response.url());
    return expectedErrors.some(
      ([method, pattern, status]) =>
        response.request().method() === method && pattern.test(url.pathname) && response.status() === status,
    );
  }

  async function openPage(viewport: typeof LAPTOP | typeof PHONE = LAPTOP): Promise<Page> {
    const page = await browser.newPage();
    await page.setViewport(viewport);
    const failedUrls = new Set<string>();
    page.on('pageerror', (error) => problems.push(`page error: ${(error as Error).message}`));
    page.on('request', (request) => {
      const url = new URL(request.url());
      if ((url.protocol === 'http:' || url.protocol === 'https:') && url.host !== apiHost)
        problems.push(`request to another host: ${request.method()} ${request.url()}`);
    });
    page.on('response', (response) => {
      if (response.status() < 400) return;
      failedUrls.add(response.url());
      if (!expected(response))
        problems.push(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
    });
    page.on('requestfailed', (request) => {
      // Leaflet cancels tile requests it no longer needs while zooming.
      if (request.failure()?.errorText !== 'net::ERR_ABORTED')
        problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`);
    });
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      // Chromium logs every HTTP error response; those are checked (and some expected) above.
      const url = message.location()?.url ?? '';
      if (message.text().startsWith('Failed to load resource') && failedUrls.has(url)) return;
      problems.push(`console error: ${message.text()} (${url})`);
    });
    return page;
  }

  async function signIn(page: Page): Promise<void> {
    await page.goto(`${stack.baseUrl}/`);
    await page.waitForSelector('#api-key');
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    await page.type('#api-key', USERS.alice.key);
    await page.click('button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'Inferences');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(1);
  }

  const text = (page: Page, selector: string) => page.$eval(selector, (element: any) => element.innerText as string);

  /** Full-page screenshots from the top (the sticky top bar would otherwise sit where the page was scrolled). */
  async function snap(page: Page, name: string, fullPage = true): Promise<void> {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage });
  }

  async function waitForStatus(page: Page, status: string, timeout = 90_000): Promise<void> {
    await page.waitForSelector(`[data-inference-status="${status}"]`, { timeout });
  }

  it('serves the app with cache headers, falls back to it on client routes, and Leaflet for /map', async () => {
    const index = await fetch(`${stack.baseUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await index.text();
    const script = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//); // nothing from another host
    const asset = await fetch(`${stack.baseUrl}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    for (const route of ['/inferences', '/inferences/new', `/inferences/${modelId}/map`, '/models/x', '/settings']) {
      const page = await fetch(`${stack.baseUrl}${route}`);
      expect([route, page.status, await page.text()]).toEqual([route, 200, html]);
    }
    expect((await fetch(`${stack.baseUrl}/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${stack.baseUrl}/assets/..%2Findex.html`)).status).toBe(404);
    expect((await fetch(`${stack.baseUrl}/api/v2/nope`)).status).toBe(404);
    const leaflet = await fetch(`${stack.baseUrl}/vendor/leaflet/leaflet.js`);
    expect(leaflet.status).toBe(200);
    expect(await leaflet.text()).toContain('Leaflet');
  });

  it('runs an inference from the form and shows it live, then its result map in the class colours', async () => {
    const page = await openPage();
    await signIn(page);
    await page.click('a[href="/inferences/new"].button');
    await page.waitForSelector('#model option[value]:not([value=""])');
    await page.select('#model', modelId);
    await page.type('#urls', fixtures.url('sample.tif'));
    await page.type('#description', 'console sample scene');
    await page.click('button[type="submit"]');
    await page.waitForFunction(() => /^\/inferences\/[0-9a-f-]{36}$/.test(location.pathname));
    const id = new URL(page.url()).pathname.split('/')[2]!;
    // A marker that a reload would wipe: the status must change in place.
    await page.evaluate(() => (window.notReloaded = true));
    await waitForStatus(page, 'COMPLETED');
    expect(await page.evaluate(() => window.notReloaded)).toBe(true);
    await page.waitForFunction(() => document.querySelectorAll('[data-step-status="FINISHED"]').length === 3);
    expect(await text(page, '[data-counts]')).toContain('1/1 done');
    const inference = (await api.get(`/api/v2/inference/${id}`)).body;
    expect(await page.$eval('a[href*="/workflows/"]', (link) => link.getAttribute('href'))).toBe(
      inference.temporal_ui_url,
    );

    // Step log and result.
    await page.click('[data-step="model-inference"] button[aria-expanded="false"]');
    await page.waitForFunction(() =>
      document.querySelector('[data-step-log="model-inference"]')?.textContent?.includes('attempt 1 started'),
    );
    const resultButton = await page.$$('[data-step="model-inference"] .step-buttons button');
    await resultButton[1]!.click();
    await page.waitForFunction(() =>
      document.querySelector('.step .code:not(.log)')?.textContent?.includes('class_pixel_counts'),
    );

    // COCO download goes through the API with the key.
    await page.waitForSelector('xpath/.//button[text()="COCO export"]');
    const coco = page.waitForResponse((response) => response.url().endsWith(`/api/v2/inference/${id}/coco`));
    await (await page.$('xpath/.//button[text()="COCO export"]'))!.click();
    expect((await coco).status()).toBe(200);
    // The results export's STAC and vectors, per task, also through the API with the key.
    await page.waitForSelector('[data-task-results] [data-vectors="geojson"]');
    const [exported] = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks;
    expect(await text(page, '[data-stac-item-url]')).toMatch(
      new RegExp(`/api/v2/inference/${id}/stac/items/${exported.task_id}$`),
    );
    const vectors = page.waitForResponse((response) =>
      response.url().endsWith(`/api/v2/inference/${id}/tasks/${exported.task_id}/vectors?format=geojson`),
    );
    await page.click('[data-vectors="geojson"]');
    expect((await vectors).status()).toBe(200);
    const collection = page.waitForResponse((response) => response.url().endsWith(`/api/v2/inference/${id}/stac`));
    await page.click('[data-stac-collection]');
    expect((await collection).status()).toBe(200);
    await snap(page, 'inference-laptop');

    // The result map: tiles drawn inside the raster's footprint, in the model's class colours.
    await page.click(`a[href="/inferences/${id}/map"]`);
    await page.waitForSelector('path.task-footprint');
    await page.waitForSelector('[data-legend] li');
    const taskId = (await page.$eval('[data-layer]', (element: any) => element.getAttribute('data-layer'))) as string;
    await page.focus(`#opacity-${taskId}`);
    await page.keyboard.press('End'); // keyboard: full opacity, so screenshot pixels are the tile colours
    await page.waitForFunction(
      () => {
        const tiles: any[] = [...document.querySelectorAll('.result-tiles img')];
        return (
          tiles.length > 0 &&
          tiles.every((tile) => tile.complete) &&
          document.querySelector('.result-tiles')?.getAttribute('style')?.includes('opacity: 1')
        );
      },
      { timeout: 20_000 },
    );
    await new Promise((resolve) => setTimeout(resolve, 500)); // fade-in of freshly loaded tiles
    const box = await page.$eval('path.task-footprint', (element) => {
      const rect = element.getBoundingClientRect();
      return { x: rect.x, y: rect.y, width: rect.width, height: rect.height };
    });
    expect(box.width).toBeGreaterThan(100);
    const legend = await page.$$eval('[data-legend] li', (items) =>
      items.map((item) => item.getAttribute('data-class-color')!),
    );
    expect(legend).toEqual(['#3a7d44', '#f0f0f0', '#4b4b6b']);
    const colours = legend.map((hex) => [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16)));
    // The middle half of the footprint (its edges are the outline, and a UTM raster is not quite a box).
    const clip = {
      x: Math.round(box.x + box.width / 4),
      y: Math.round(box.y + box.height / 4),
      width: Math.round(box.width / 2),
      height: Math.round(box.height / 2),
    };
    const shot = decodePng(Buffer.from(await page.screenshot({ clip })));
    const counts = new Array(colours.length + 1).fill(0) as number[];
    for (let i = 0; i < shot.width * shot.height; i++) {
      const pixel = shot.rgba.subarray(i * 4, i * 4 + 3);
      const match = colours.findIndex((colour) => colour.every((channel, c) => Math.abs(channel - pixel[c]!) <= 3));
      counts[match === -1 ? colours.length : match]! += 1;
    }
    const total = shot.width * shot.height;
    expect(counts[colours.length]! / total).toBeLessThan(0.02); // other colours: class borders only
    expect(counts[0]! / total).toBeGreaterThan(0.05); // clear
    expect(counts[1]! / total).toBeGreaterThan(0.01); // cloud
    await snap(page, 'map-laptop', false);

    // A click reads the pixel under it and names its class.
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForSelector('.pixel-popup');
    expect(await text(page, '[data-pixel]')).toMatch(/Task 0: (clear|cloud|cloud_shadow) \(value [012]\)/);

    // Phone size: the same pages fit the screen (no sideways scrolling).
    await page.setViewport(PHONE);
    await page.reload();
    await page.waitForSelector('path.task-footprint');
    await page.waitForFunction(() => document.querySelectorAll('.result-tiles img').length > 0);
    await new Promise((resolve) => setTimeout(resolve, 800));
    await snap(page, 'map-phone', false);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await page.goto(`${stack.baseUrl}/inferences/${id}`);
    await waitForStatus(page, 'COMPLETED');
    await snap(page, 'inference-phone');
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await page.click('.menu-toggle');
    await page.waitForSelector('.nav-open a[href="/inferences"]', { visible: true });
    await page.click('.nav-open a[href="/inferences"]');
    await page.waitForSelector(`[data-inference="${id}"]`);
    await snap(page, 'inferences-phone');
    await page.setViewport(LAPTOP); // leaving the phone emulation reloads the page
    await page.waitForSelector(`[data-inference="${id}"]`);
    await snap(page, 'inferences-laptop', false);
    await page.close();

    // /map/{task_id}: Leaflet from the API itself; only its OpenStreetMap basemap is remote (refused here).
    const task = (await api.get(`/api/v2/inference/${id}/tasks`)).body.tasks[0];
    const viewer = await browser.newPage();
    await viewer.setRequestInterception(true);
    const hosts = new Set<string>();
    viewer.on('request', (request) => {
      const url = new URL(request.url());
      if (url.host === apiHost) return void request.continue();
      hosts.add(url.host);
      void request.abort();
    });
    await viewer.goto(task.map_url);
    await viewer.waitForSelector('.leaflet-tile-loaded');
    expect(await viewer.evaluate(() => typeof (window as { L?: unknown }).L)).toBe('object');
    expect([...hosts].filter((host) => !host.endsWith('tile.openstreetmap.org'))).toEqual([]);
    await viewer.close();
  });

  it('shows the field the API refused next to it', async () => {
    expectedErrors.push(['POST', /^\/api\/v2\/inference$/, 400]);
    const page = await openPage();
    await signIn(page);
    await page.goto(`${stack.baseUrl}/inferences/new`);
    await page.waitForSelector('#model option[value]:not([value=""])');
    await page.select('#model', modelId);
    await page.type('#urls', 'ftp://example.org/scene.tif');
    const answer = page.waitForResponse((response) => response.url().endsWith('/api/v2/inference'));
    await page.click('button[type="submit"]');
    expect((await answer).status()).toBe(400);
    await page.waitForSelector('[data-field-error="urls"]');
    expect(await text(page, '[data-field-error="urls"]')).toBe('URL 1: must be an http(s) URL');
    expect(await page.$eval('#urls', (element) => element.getAttribute('aria-invalid'))).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('urls');
    await snap(page, 'field-error-laptop');
    await page.close();
  });

  it('shows models and processors, registers and uploads through their forms, draws areas', async () => {
    expectedErrors.push(['POST', /^\/api\/v2\/models$/, 400]);
    const page = await openPage();
    await page.goto(`${stack.baseUrl}/`);
    await page.waitForSelector('#api-key');
    await snap(page, 'sign-in-laptop', false);
    await signIn(page);

    await page.click('nav a[href="/models"]');
    await page.waitForSelector(`a[href="/models/${modelId}"]`);
    await page.click(`a[href="/models/${modelId}"]`);
    await page.waitForFunction((name: string) => document.querySelector('h1')?.textContent === name, {}, modelName);
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1'); // focus follows navigation
    expect(await text(page, 'main')).toMatch(/cloud_shadow\s+\(value 2\)/);
    await snap(page, 'model-laptop');

    // A spec the API refuses: the message goes next to the spec, naming the path inside it.
    await page.goto(`${stack.baseUrl}/models/new`);
    await page.waitForSelector('#model-spec');
    await page.type('#model-name', 'refused-model');
    const onnx = path.join(workDir, 'tiny.onnx');
    fs.writeFileSync(onnx, 'not really a model');
    await ((await page.$('#model-file')) as unknown as { uploadFile(...paths: string[]): Promise<void> }).uploadFile(
      onnx,
    );
    await page.$eval('#model-spec', (element: any) => {
      element.value = '';
    });
    await page.type(
      '#model-spec',
      JSON.stringify({
        bands: [{ name: 'red' }],
        tile_size: 64,
        tile_overlap: 8,
        classes: [{ value: 0, name: 'a', color: 'red' }],
      }),
    );
    await page.click('button[type="submit"]');
    await page.waitForSelector('[data-field-error="model-spec"]');
    expect(await text(page, '[data-field-error="model-spec"]')).toBe(
      'model_input_data_spec.classes.0.color: must be a colour like #1f77b4',
    );

    // A processor through the upload form, then its details.
    const script = path.join(workDir, 'threshold.py');
    fs.writeFileSync(script, 'import sys\n\nif __name__ == "__main__":\n    print(sys.argv)\n');
    await page.goto(`${stack.baseUrl}/processors/new`);
    await page.waitForSelector('#processor-name');
    await page.type('#processor-name', 'console-threshold');
    await page.type('#processor-description', 'keeps values over a threshold');
    await page.$eval('#processor-parameters', (element: any) => {
      element.value = '';
    });
    await page.type('#processor-parameters', '{"threshold": 80}');
    await (
      (await page.$('#processor-file')) as unknown as { uploadFile(...paths: string[]): Promise<void> }
    ).uploadFile(script);
    await page.click('button[type="submit"]');
    await page.waitForFunction(() => /^\/processors\/[0-9a-f-]{36}$/.test(location.pathname));
    await page.waitForFunction(() => document.querySelector('h1')?.textContent === 'console-threshold');
    expect(await text(page, 'main')).toContain('"threshold": 80');
    await page.click('a.back');
    await page.waitForSelector('xpath/.//a[text()="console-threshold"]');
    await snap(page, 'processors-laptop', false);

    // Areas: a box drawn with two clicks on the map, and the processor offered in the form.
    await page.goto(`${stack.baseUrl}/inferences/new`);
    await page.waitForSelector('#processor option[value]:not([value=""])');
    await page.click('input[name="input-mode"][value="area"]');
    const map = await page.waitForSelector('.map-form');
    await (await page.$('xpath/.//button[text()="Draw box"]'))!.click();
    const mapBox = (await map!.boundingBox())!;
    await page.mouse.click(mapBox.x + mapBox.width * 0.45, mapBox.y + mapBox.height * 0.35);
    await page.mouse.move(mapBox.x + mapBox.width * 0.55, mapBox.y + mapBox.height * 0.5);
    await page.mouse.click(mapBox.x + mapBox.width * 0.55, mapBox.y + mapBox.height * 0.5);
    await page.waitForSelector('.area-list li');
    expect(await text(page, '.area-list')).toMatch(/^Box -?[\d.]+, -?[\d.]+, -?[\d.]+, -?[\d.]+/);
    await page.type('#tiles', '33UXP');
    await page.click('xpath/.//button[text()="Add date"]');
    await snap(page, 'new-inference-area-laptop');
    await page.setViewport(PHONE);
    await page.waitForSelector('#urls');
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await snap(page, 'new-inference-phone');
    await page.close();
  });

  it('uploads several GeoTIFFs with a progress bar, one task each', async () => {
    const page = await openPage();
    await signIn(page);
    await page.goto(`${stack.baseUrl}/inferences/new`);
    await page.waitForSelector('#model option[value]:not([value=""])');
    await page.select('#model', modelId);
    await page.click('input[name="input-mode"][value="upload"]');
    const input = await page.waitForSelector('#files');
    await (input as unknown as { uploadFile(...paths: string[]): Promise<void> }).uploadFile(
      ...[1, 2, 3].map((seed) => path.join(workDir, `upload-${seed}.tif`)),
    );
    await page.waitForSelector('[data-files-summary]');
    expect(await text(page, '[data-files-summary]')).toMatch(/^3 files, /);
    // The bar may be up only briefly on loopback: record that it showed.
    await page.evaluate(() => {
      new MutationObserver(() => {
        if (document.querySelector('[data-upload-progress] progress')) window.sawProgress = true;
      }).observe(document.body, { childList: true, subtree: true });
    });
    await page.click('button[type="submit"]');
    await page.waitForFunction(() => /^\/inferences\/[0-9a-f-]{36}$/.test(location.pathname));
    expect(await page.evaluate(() => window.sawProgress)).toBe(true);
    await page.waitForFunction(() => document.querySelectorAll('[data-task]').length === 3);
    expect(await page.$$eval('.task-input', (items) => items.map((item) => item.textContent).sort())).toEqual([
      'upload-1.tif',
      'upload-2.tif',
      'upload-3.tif',
    ]);
    await waitForStatus(page, 'COMPLETED');
    expect(await text(page, '[data-counts]')).toContain('3/3 done');
    await page.close();
  });

  it('stops a running inference and retries it with the buttons', async () => {
    const created = await api.post('/api/v2/inference', {
      model_id: modelId,
      description: 'held download',
      spatial_domain: { urls: [held.url] },
      temporal_domain: [],
    });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    const page = await openPage();
    await signIn(page);
    await page.goto(`${stack.baseUrl}/inferences/${id}`); // a deep link: the API answers the app
    await page.waitForSelector('[data-step="terrakit-data-fetch"][data-step-status="RUNNING"]', { timeout: 60_000 });
    const stop = page.waitForResponse((response) => response.url().endsWith(`/api/v2/inference/${id}/stop`));
    await (await page.waitForSelector('xpath/.//button[text()="Stop"]'))!.click();
    expect((await stop).status()).toBe(202);
    await page.waitForSelector('xpath/.//*[contains(text(), "Stop requested")]');
    held.release(); // the download ends; the workflow then stops the task
    await waitForStatus(page, 'STOPPED', 60_000);
    expect(await text(page, '[data-counts]')).toContain('1 stopped');
    const retry = page.waitForResponse((response) => response.url().endsWith(`/api/v2/inference/${id}/retry`));
    await (await page.waitForSelector('xpath/.//button[text()="Retry"]'))!.click();
    expect((await retry).status()).toBe(202);
    // The list follows it too (no reload), and filters by status.
    await page.click('nav a[href="/inferences"]');
    await page.waitForSelector(`[data-inference="${id}"] [data-status="COMPLETED"]`, { timeout: 90_000 });
    expect(await text(page, `[data-inference="${id}"] [data-counts]`)).toContain('1/1 done');
    await page.select('#filter-status', 'FAILED');
    // Other specs share the database: the filtered list holds only FAILED rows (maybe none), never this inference.
    await page.waitForFunction(
      (id: string) =>
        !document.querySelector(`[data-inference="${id}"]`) &&
        (document.querySelector('.empty') !== null || document.querySelector('[data-inference]') !== null),
      {},
      id,
    );
    const shown = await page.$$eval('[data-inference] [data-status]', (cells) =>
      cells.map((cell) => cell.getAttribute('data-status')),
    );
    expect(shown.every((status) => status === 'FAILED')).toBe(true);
    expect(new URL(page.url()).search).toBe('?status=FAILED');
    await page.select('#filter-status', 'COMPLETED');
    await page.waitForSelector(`[data-inference="${id}"]`);
    await page.close();
  });
});
