import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

/**
 * A local stand-in for a STAC API (Earth Search-like): POST /search with collections, bbox, intersects
 * (by its bbox), datetime intervals, the `query` extension (eq, neq, lt, lte, gt, gte, in) and limit, paged
 * with `rel: next` links that carry `method: POST` and a `body` with a token to merge into the request.
 */
export interface StacDoubleItem {
  id: string;
  collection: string;
  bbox: [number, number, number, number];
  geometry?: unknown;
  properties: Record<string, unknown> & { datetime: string };
  assets: Record<string, { href: string; type?: string }>;
}

export interface StacDouble {
  url: string;
  /** Every POST /search body received, in order. */
  requests: Array<Record<string, any>>;
  close(): Promise<void>;
}

function geometryBbox(geometry: any): [number, number, number, number] {
  const points: number[][] = [];
  const walk = (value: any) => (typeof value[0] === 'number' ? points.push(value) : value.forEach(walk));
  walk(geometry.coordinates);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function intersects(a: number[], b: number[]): boolean {
  return a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3];
}

function inDatetime(value: string, interval: string): boolean {
  const [start, end] = interval.includes('/') ? interval.split('/') : [interval, interval];
  const time = new Date(value).getTime();
  return (
    (start === '..' || start === '' || time >= new Date(start).getTime()) &&
    (end === '..' || end === '' || time <= new Date(end).getTime())
  );
}

function matchesQuery(properties: Record<string, unknown>, query: Record<string, Record<string, unknown>>): boolean {
  return Object.entries(query).every(([name, ops]) => {
    const value = properties[name] as any;
    return Object.entries(ops).every(([op, operand]: [string, any]) => {
      switch (op) {
        case 'eq':
          return value === operand;
        case 'neq':
          return value !== operand;
        case 'lt':
          return value < operand;
        case 'lte':
          return value <= operand;
        case 'gt':
          return value > operand;
        case 'gte':
          return value >= operand;
        case 'in':
          return Array.isArray(operand) && operand.includes(value);
        default:
          return false;
      }
    });
  });
}

export async function startStacDouble(
  items: StacDoubleItem[],
  options: { maxPageSize?: number } = {},
): Promise<StacDouble> {
  const requests: Array<Record<string, any>> = [];
  let base = '';
  const server = http.createServer((request, response) => {
    const send = (status: number, body: unknown) =>
      response.writeHead(status, { 'Content-Type': 'application/geo+json' }).end(JSON.stringify(body));
    const pathname = new URL(request.url ?? '/', 'http://x').pathname;
    if (pathname !== '/search') return send(404, { code: 'NotFound', description: pathname });
    if (request.method !== 'POST')
      return send(405, { code: 'MethodNotAllowed', description: 'this double serves POST /search only' });
    let raw = '';
    request.on('data', (chunk) => (raw += chunk));
    request.on('end', () => {
      let body: Record<string, any>;
      try {
        body = JSON.parse(raw);
      } catch {
        return send(400, { code: 'BadRequest', description: 'body is not JSON' });
      }
      requests.push(body);
      const area: number[] | undefined = body.bbox ?? (body.intersects ? geometryBbox(body.intersects) : undefined);
      const matched = items.filter(
        (item) =>
          (!body.collections || body.collections.includes(item.collection)) &&
          (!area || intersects(item.bbox, area)) &&
          (!body.datetime || inDatetime(item.properties.datetime, body.datetime)) &&
          (!body.query || matchesQuery(item.properties, body.query)),
      );
      const limit = Math.min(Number(body.limit ?? 10), options.maxPageSize ?? Infinity);
      const offset = body.next ? Number(Buffer.from(String(body.next), 'base64url').toString()) : 0;
      const page = matched.slice(offset, offset + limit);
      const links: unknown[] = [{ rel: 'self', href: `${base}/search` }];
      if (offset + limit < matched.length) {
        links.push({
          rel: 'next',
          href: `${base}/search`,
          method: 'POST',
          merge: true,
          body: { next: Buffer.from(String(offset + limit)).toString('base64url') },
        });
      }
      send(200, {
        type: 'FeatureCollection',
        features: page.map((item) => ({
          type: 'Feature',
          stac_version: '1.0.0',
          geometry: item.geometry ?? null,
          links: [],
          ...item,
        })),
        links,
        context: { returned: page.length, matched: matched.length, limit },
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: base, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * Serves files with HTTP Range support (206 + Content-Range), like the object stores COGs live on, and
 * counts the bytes it sent per file so tests can check that a chip read only part of them.
 */
export async function startRangeFileServer(root: string): Promise<{
  url: (name: string) => string;
  bytesServed: Map<string, number>;
  requests: string[];
  close: () => Promise<void>;
}> {
  const bytesServed = new Map<string, number>();
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    const name = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    const file = path.join(root, path.normalize(name));
    if (!file.startsWith(root) || !fs.existsSync(file) || !fs.statSync(file).isFile())
      return void response.writeHead(404).end('not found');
    const size = fs.statSync(file).size;
    const range = request.headers.range;
    requests.push(`${request.method} ${name} ${range ?? ''}`);
    const count = (bytes: number) => bytesServed.set(name, (bytesServed.get(name) ?? 0) + bytes);
    const headers = { 'Accept-Ranges': 'bytes', 'Content-Type': 'image/tiff' };
    if (request.method === 'HEAD') return void response.writeHead(200, { ...headers, 'Content-Length': size }).end();
    if (range) {
      const match = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (!match) return void response.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      let start = match[1] === '' ? size - Number(match[2]) : Number(match[1]);
      let end = match[1] === '' || match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
      start = Math.max(0, start);
      if (start >= size || end < start)
        return void response.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      count(end - start + 1);
      response.writeHead(206, {
        ...headers,
        'Content-Range': `bytes ${start}-${end}/${size}`,
        'Content-Length': end - start + 1,
      });
      return void fs.createReadStream(file, { start, end }).pipe(response);
    }
    count(size);
    response.writeHead(200, { ...headers, 'Content-Length': size });
    fs.createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    bytesServed,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
