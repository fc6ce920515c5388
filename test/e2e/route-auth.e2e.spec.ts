import * as http from 'node:http';
import { randomUUID } from 'node:crypto';
import { routeAccess, type RouteAccess } from '../../src/api/auth/route-access';
import { canonicalPath } from '../../src/api/http/canonical-path';
import { startTestStack, USERS, type TestStack } from '../support/stack';

/** One raw HTTP request: fetch() would normalise some of the spellings this test is about. */
function rawRequest(
  baseUrl: string,
  method: string,
  rawPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: method.toUpperCase(),
        path: rawPath,
        headers: { 'Content-Type': 'application/json', ...headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    request.on('error', reject);
    request.end(method === 'get' || method === 'delete' ? undefined : '{}');
  });
}

const alternateCase = (value: string) =>
  [...value].map((char, index) => (index % 2 ? char.toUpperCase() : char.toLowerCase())).join('');
const escapeLetters = (value: string) =>
  value.replace(/[a-z]/g, (char, index: number) => (index % 3 === 1 ? `%${char.charCodeAt(0).toString(16)}` : char));

/** Spellings of one concrete path that Express (or the canonical-path step before it) routes to the same handler. */
function spellings(path: string): Array<[string, string]> {
  return [
    ['as declared', path],
    ['upper case', path.toUpperCase()],
    ['alternating case', alternateCase(path)],
    ['percent-encoded letters', escapeLetters(path)],
    ['upper-case percent escapes', escapeLetters(path).replace(/%[0-9a-f]{2}/g, (escape) => escape.toUpperCase())],
    ['duplicate slashes', path.replace(/\//g, '//')],
    ['leading double slash', `/${path}`],
    ['trailing slash', `${path}/`],
    ['trailing slash and query', `${path}/?limit=1`],
    ['everything at once', `/${escapeLetters(alternateCase(path)).replace(/\//g, '//')}/`],
  ];
}

describe('API key on every route, whatever the spelling of its path', () => {
  let stack: TestStack;
  let routes: RouteAccess[];

  beforeAll(async () => {
    stack = await startTestStack({ storage: 'filesystem', worker: false });
    routes = routeAccess(stack.app);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('knows every route and which few are public', () => {
    expect(routes.length).toBeGreaterThan(20);
    const publicRoutes = routes
      .filter((route) => route.publicCredential !== undefined)
      .map((route) => `${route.method} ${route.path}`);
    expect(publicRoutes.sort()).toEqual(
      [
        // The web console's pages and files (ConsoleController): no data in them, the app asks for a key.
        'get /',
        'get /assets/{path}',
        'get /inferences',
        'get /inferences/{page}',
        'get /models',
        'get /models/{page}',
        'get /processors',
        'get /processors/{page}',
        'get /settings',
        'get /sign-in',
        'get /vendor/leaflet/{path}',
        'get /api/health',
        'get /api/health/live',
        'get /api/health/ready',
        // The API key or an events token: checked by the route's own guard (src/api/events/events-access.guard.ts).
        'get /api/v2/inference/{id}/events',
        'get /files/{path}',
        'get /map/{taskId}',
        'get /metrics',
        'get /tiles/{taskId}/{z}/{x}/{y}.png',
        // The tile token of the task (the legend beside its tiles): 403 without it (task-types e2e).
        'get /tiles/{taskId}/legend.{format}',
      ].sort(),
    );
  });

  it('answers 401 without a key on every non-public route under every spelling', async () => {
    const answers: string[] = [];
    for (const route of routes.filter((candidate) => candidate.publicCredential === undefined)) {
      const concrete = route.path.replace(/\{[^}]+\}/g, () => randomUUID());
      for (const [label, spelled] of spellings(concrete)) {
        const response = await rawRequest(stack.baseUrl, route.method, spelled);
        if (response.status !== 401)
          answers.push(`${route.method} ${spelled} (${label}): ${response.status} ${response.body.slice(0, 120)}`);
        else expect(JSON.parse(response.body)).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
      }
    }
    expect(answers).toEqual([]);
  });

  it('answers 401 with a wrong key, and lets a right key through under the same spellings', async () => {
    for (const [, spelled] of spellings('/api/v2/models')) {
      expect((await rawRequest(stack.baseUrl, 'get', spelled, { Authorization: 'Bearer wrong-key' })).status).toBe(401);
      expect(
        (await rawRequest(stack.baseUrl, 'get', spelled, { Authorization: `Bearer ${USERS.alice.key}` })).status,
      ).toBe(200);
    }
  });

  it('stores nothing for an unauthenticated write under an odd spelling', async () => {
    const before = await stack.dataSource.query('SELECT count(*)::int AS n FROM models');
    expect((await rawRequest(stack.baseUrl, 'post', '/API/v2/MODELS')).status).toBe(401);
    expect((await rawRequest(stack.baseUrl, 'post', '//api/v2/generic-processor/')).status).toBe(401);
    expect((await rawRequest(stack.baseUrl, 'post', '/api/v2/%69nference')).status).toBe(401);
    expect(await stack.dataSource.query('SELECT count(*)::int AS n FROM models')).toEqual(before);
  });

  it('keeps public routes open and their own credentials in force', async () => {
    expect((await rawRequest(stack.baseUrl, 'get', '/API/HEALTH/live')).status).toBe(200);
    expect((await rawRequest(stack.baseUrl, 'get', `/TILES/${randomUUID()}/1/0/0.png`)).status).toBe(403);
    expect((await rawRequest(stack.baseUrl, 'get', '/files/some/key?expires=1&signature=00')).status).toBe(403);
  });

  it('canonicalises paths without creating dot segments or touching the query', () => {
    expect(canonicalPath('//api///v2/%6Dodels/')).toBe('/api/v2/models/');
    expect(canonicalPath('/files/%2e%2e/%2E%2E/secret')).toBe('/files/%2e%2e/%2E%2E/secret');
    expect(canonicalPath('/files/a%2Fb')).toBe('/files/a%2Fb');
  });
});
