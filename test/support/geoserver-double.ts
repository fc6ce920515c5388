import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server that answers the GeoServer REST calls the publisher makes the way GeoServer 2.2x does,
 * including its uneven status codes, and keeps state so a second publish meets existing resources:
 * - HTTP Basic auth on every /rest call; 401 with WWW-Authenticate otherwise;
 * - POST /rest/workspaces -> 201, 409 when the workspace exists;
 * - POST /rest/workspaces/{ws}/coveragestores -> 201, 500 "Store 'x' already exists" when it exists;
 * - PUT /rest/workspaces/{ws}/coveragestores/{store}/file.geotiff (image/tiff body, ?coverageName=) ->
 *   201 creating store + coverage + layer, 200 replacing the file; 404 for an unknown workspace;
 * - POST /rest/workspaces/{ws}/styles?name=s (application/vnd.ogc.sld+xml) -> 201, 403 when it exists;
 * - PUT /rest/workspaces/{ws}/styles/{s} -> 200 (404 unknown); GET .../styles/{s}.sld -> the SLD;
 * - PUT /rest/layers/{ws}:{layer} {"layer":{"defaultStyle":{...}}} -> 200 (404 unknown); GET -> JSON.
 * Error bodies are plain text, as GeoServer sends them.
 */
export interface GeoServerDouble {
  url: string;
  user: string;
  password: string;
  requests: Array<{ method: string; path: string; status: number }>;
  workspaces: Set<string>;
  stores: Map<string, { workspace: string; name: string; coverage: string; bytes: Buffer; uploads: number }>;
  styles: Map<string, string>;
  layers: Map<string, { defaultStyle?: { name: string; workspace?: string } }>;
  /** Makes the next matching authenticated call answer `status` with `text` (a GeoServer-side failure). */
  failNext(method: string, pathPattern: RegExp, status: number, text: string): void;
  /** Holds the next matching authenticated call `ms` before answering it (a slow upload, to catch a step mid-way). */
  delayNext(method: string, pathPattern: RegExp, ms: number): void;
  close(): Promise<void>;
}

export async function startGeoServerDouble(
  credentials = { user: 'admin', password: 'geoserver' },
): Promise<GeoServerDouble> {
  const faults: Array<{ method: string; pathPattern: RegExp; status: number; text: string }> = [];
  const delays: Array<{ method: string; pathPattern: RegExp; ms: number }> = [];
  const held = new Set<NodeJS.Timeout>();
  const state: Omit<GeoServerDouble, 'url' | 'close'> = {
    failNext: (method, pathPattern, status, text) => faults.push({ method, pathPattern, status, text }),
    delayNext: (method, pathPattern, ms) => delays.push({ method, pathPattern, ms }),
    ...credentials,
    requests: [],
    workspaces: new Set(),
    stores: new Map(),
    styles: new Map(),
    layers: new Map(),
  };
  const expectedAuth = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://x');
      const method = request.method ?? 'GET';
      const body = Buffer.concat(chunks);
      const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim();
      const reply = (status: number, text = '', type = 'text/plain', headers: Record<string, string> = {}) => {
        state.requests.push({ method, path: url.pathname, status });
        response.writeHead(status, { 'Content-Type': type, ...headers }).end(text);
      };
      const path = url.pathname.replace(/^\/geoserver/, '');
      if (!path.startsWith('/rest/')) return reply(404, 'not found');
      if (request.headers.authorization !== expectedAuth)
        return reply(401, 'HTTP ERROR 401 Unauthorized', 'text/plain', {
          'WWW-Authenticate': 'Basic realm="GeoServer Realm"',
        });

      const delay = delays.findIndex((d) => d.method === method && d.pathPattern.test(path));
      if (delay >= 0) {
        const [{ ms }] = delays.splice(delay, 1);
        state.requests.push({ method, path: url.pathname, status: 0 });
        const timer = setTimeout(() => {
          held.delete(timer);
          // Its caller may be gone (a killed worker): the answer then goes nowhere, as with GeoServer.
          if (!response.destroyed) response.writeHead(504, { 'Content-Type': 'text/plain' }).end('held too long');
        }, ms!);
        held.add(timer);
        return;
      }
      const fault = faults.findIndex((f) => f.method === method && f.pathPattern.test(path));
      if (fault >= 0) {
        const [{ status, text }] = faults.splice(fault, 1);
        return reply(status!, text!);
      }
      let match: RegExpExecArray | null;
      if (method === 'POST' && path === '/rest/workspaces') {
        const name = parseJson(body)?.workspace?.name as string | undefined;
        if (!name) return reply(400, 'Workspace name is required');
        if (state.workspaces.has(name)) return reply(409, `Workspace '${name}' already exists`);
        state.workspaces.add(name);
        return reply(201, name);
      }
      if ((match = /^\/rest\/workspaces\/([^/]+)\/coveragestores$/.exec(path)) && method === 'POST') {
        const ws = decodeURIComponent(match[1]!);
        const name = parseJson(body)?.coverageStore?.name as string | undefined;
        if (!state.workspaces.has(ws)) return reply(404, `No such workspace: '${ws}'`);
        if (!name) return reply(400, 'Store name is required');
        if (state.stores.has(`${ws}:${name}`)) return reply(500, `Store '${name}' already exists in workspace '${ws}'`);
        state.stores.set(`${ws}:${name}`, { workspace: ws, name, coverage: name, bytes: Buffer.alloc(0), uploads: 0 });
        return reply(201, name);
      }
      if (
        (match = /^\/rest\/workspaces\/([^/]+)\/coveragestores\/([^/]+)\/file\.geotiff$/.exec(path)) &&
        method === 'PUT'
      ) {
        const ws = decodeURIComponent(match[1]!);
        const name = decodeURIComponent(match[2]!);
        if (!state.workspaces.has(ws)) return reply(404, `No such workspace: '${ws}'`);
        if (contentType !== 'image/tiff') return reply(415, `Unsupported media type ${contentType}`);
        const magic = body.subarray(0, 4).toString('latin1');
        if (magic !== 'II*\0' && magic !== 'MM\0*')
          return reply(500, 'Could not read the uploaded GeoTIFF: not a TIFF file');
        const key = `${ws}:${name}`;
        const existing = state.stores.get(key);
        const coverage = url.searchParams.get('coverageName') ?? existing?.coverage ?? name;
        state.stores.set(key, { workspace: ws, name, coverage, bytes: body, uploads: (existing?.uploads ?? 0) + 1 });
        const layerKey = `${ws}:${coverage}`;
        if (!state.layers.has(layerKey)) state.layers.set(layerKey, { defaultStyle: { name: 'raster' } });
        return reply(existing ? 200 : 201, '');
      }
      if ((match = /^\/rest\/workspaces\/([^/]+)\/styles$/.exec(path)) && method === 'POST') {
        const ws = decodeURIComponent(match[1]!);
        const name = url.searchParams.get('name');
        if (!state.workspaces.has(ws)) return reply(404, `No such workspace: '${ws}'`);
        if (contentType !== 'application/vnd.ogc.sld+xml') return reply(415, `Unsupported style format ${contentType}`);
        if (!name) return reply(400, 'Style name is required');
        if (state.styles.has(`${ws}:${name}`)) return reply(403, `Style ${name} already exists in workspace ${ws}`);
        state.styles.set(`${ws}:${name}`, body.toString('utf8'));
        return reply(201, name);
      }
      if ((match = /^\/rest\/workspaces\/([^/]+)\/styles\/([^/]+?)(\.sld)?$/.exec(path))) {
        const key = `${decodeURIComponent(match[1]!)}:${decodeURIComponent(match[2]!)}`;
        if (!state.styles.has(key)) return reply(404, `No such style: ${match[2]}`);
        if (method === 'GET') return reply(200, state.styles.get(key)!, 'application/vnd.ogc.sld+xml');
        if (method === 'PUT') {
          state.styles.set(key, body.toString('utf8'));
          return reply(200, '');
        }
      }
      if ((match = /^\/rest\/layers\/([^/]+)$/.exec(path))) {
        const key = decodeURIComponent(match[1]!);
        const layer = state.layers.get(key);
        if (!layer) return reply(404, `No such layer: ${key}`);
        if (method === 'GET')
          return reply(
            200,
            JSON.stringify({ layer: { name: key.split(':')[1], type: 'RASTER', ...layer } }),
            'application/json',
          );
        if (method === 'PUT') {
          const defaultStyle = parseJson(body)?.layer?.defaultStyle;
          if (defaultStyle) layer.defaultStyle = defaultStyle;
          return reply(200, '');
        }
      }
      return reply(405, `${method} ${path} is not supported by the GeoServer double`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...state,
    url: `http://127.0.0.1:${port}/geoserver`,
    close: () => {
      for (const timer of held) clearTimeout(timer);
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } as GeoServerDouble;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function parseJson(body: Buffer): any {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
