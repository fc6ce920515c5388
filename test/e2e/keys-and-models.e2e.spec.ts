import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { demoModelMetadata } from '../../scripts/demo-model';
import { ApiClient } from '../support/api-client';
import { startPglite } from '../support/pglite';
import { startOidcProviderDouble, type OidcProviderDouble } from '../support/oidc-provider-double';
import { demoModelPaths, requiredEnv } from '../support/services';
import { startTestStack, USERS, type TestStack } from '../support/stack';

const ADMIN = { key: 'test-admin-key-0123456789', email: 'admin@example.com' };
/** The suite's PostgreSQL, put back after the PGlite run changed process.env. */
const POSTGRES_URL = process.env.DATABASE_URL;
const CODEC_KEY = Buffer.alloc(32, 7).toString('base64');
const UI_ORIGIN = 'http://temporal-ui.example.com:8080';
/** The path and token of a URL with a token in it, as users send for signed object-store links (404 there). */
const SECRET_PATH = '/scenes/a.tif?X-Amz-Signature=url-secret-token-0123456789';
/** The Web UI sign-in: its OIDC client, an admin by e-mail, an admin by role (a nested claim, as Keycloak has it). */
const UI_CLIENT_ID = 'temporal-ui';
const UI_ADMIN_EMAIL = 'ops@example.com';
const UI_ADMIN_ROLE = 'temporal-admins';

const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
/** A history payload in the codec server protocol's JSON (bytes as base64). */
const payloadJson = (payload: temporal.api.common.v1.IPayload) => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
  ),
  data: Buffer.from(payload.data ?? []).toString('base64'),
});

describe.each(['postgres', 'pglite'] as const)('owned models and API keys on %s', (database) => {
  let stack: TestStack;
  let pglite: Awaited<ReturnType<typeof startPglite>> | undefined;
  let alice: ApiClient;
  let bob: ApiClient;
  let admin: ApiClient;
  let oidc: OidcProviderDouble;
  let secretUrl: string;
  const register = (client: ApiClient, name: string, extra: Record<string, unknown> = {}) =>
    client.registerModel({ ...demoModelMetadata(demoModelPaths().meta, name), ...extra }, demoModelPaths().model);
  const patch = (client: ApiClient, route: string, body: unknown) => client.request('PATCH', route, body);
  const startInference = (client: ApiClient, model: Record<string, string>) =>
    client.post('/api/v2/inference', {
      ...model,
      spatial_domain: { urls: [secretUrl] },
      temporal_domain: ['2024-06-15'],
    });

  beforeAll(async () => {
    if (database === 'pglite') pglite = await startPglite();
    oidc = await startOidcProviderDouble();
    secretUrl = `${oidc.issuer}${SECRET_PATH}`;
    stack = await startTestStack({
      storage: 'filesystem',
      worker: false,
      env: {
        ADMIN_API_KEYS: `${ADMIN.key}:${ADMIN.email}`,
        TEMPORAL_CODEC_KEY: CODEC_KEY,
        TEMPORAL_CODEC_CORS_ORIGINS: UI_ORIGIN,
        TEMPORAL_UI_OIDC_ISSUER_URL: oidc.issuer,
        TEMPORAL_UI_OIDC_CLIENT_ID: UI_CLIENT_ID,
        TEMPORAL_UI_ADMIN_EMAILS: `someone@example.com, ${UI_ADMIN_EMAIL.toUpperCase()}`,
        TEMPORAL_UI_ADMIN_GROUPS: UI_ADMIN_ROLE,
        TEMPORAL_UI_OIDC_GROUPS_CLAIM: 'realm_access.roles',
        ...(pglite ? { DATABASE_URL: pglite.url } : {}),
      },
    });
    alice = new ApiClient(stack.baseUrl, USERS.alice.key);
    bob = alice.as(USERS.bob.key);
    admin = alice.as(ADMIN.key);
  });

  afterAll(async () => {
    await stack?.stop();
    await oidc?.close();
    await pglite?.stop();
    process.env.DATABASE_URL = POSTGRES_URL;
  });

  describe('models', () => {
    const name = `shared-name-${database}-${Date.now()}`;
    let alicePrivate: { id: string };
    let bobPublic: { id: string };

    beforeAll(async () => {
      const first = await register(alice, name);
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ owner: USERS.alice.email, visibility: 'private', version: 1 });
      alicePrivate = first.body;
      // The same display name is free for another owner: names are unique per owner, not globally.
      const second = await register(bob, name, { visibility: 'public' });
      expect(second.status).toBe(201);
      bobPublic = second.body;
    });

    it('registers a display name the owner already has as the next version; model_display_name picks the latest, model_id pins one', async () => {
      const family = `versioned-${database}-${Date.now()}`;
      const v1 = await register(alice, family);
      const v2 = await register(alice, family, { description: 'retrained' });
      expect(v1.status).toBe(201);
      expect(v2.status).toBe(201);
      expect(v1.body.version).toBe(1);
      expect(v2.body).toMatchObject({ display_name: family, version: 2, description: 'retrained' });
      expect((await alice.get(`/api/v2/models/${v2.body.id}`)).body.version).toBe(2);
      // Another owner's same name is their own version 1 (public: alice sees it in listings).
      const bobs = await register(bob, family, { visibility: 'public' });
      expect(bobs.body.version).toBe(1);

      const byName = await startInference(alice, { model_display_name: family });
      expect(byName.status).toBe(201);
      expect(byName.body.model_id).toBe(v2.body.id);
      const pinned = await startInference(alice, { model_id: v1.body.id });
      expect(pinned.status).toBe(201);
      expect(pinned.body.model_id).toBe(v1.body.id);

      const listed = await alice.get(`/api/v2/models?display_name=${family}&owner=${USERS.alice.email}`);
      expect(listed.status).toBe(200);
      expect(listed.body.total_records).toBe(2);
      expect(listed.body.results.map((model: { version: number }) => model.version).sort()).toEqual([1, 2]);
      const latest = await alice.get(`/api/v2/models?display_name=${family}&versions=latest`);
      expect(latest.body.results.map((model: { id: string }) => model.id).sort()).toEqual(
        [v2.body.id, bobs.body.id].sort(),
      );
      expect((await alice.get('/api/v2/models?versions=newest')).status).toBe(400);

      // Deleting the latest version: the name falls back to version 1, and a new registration is version 3
      // (a number never names two different files).
      expect((await alice.delete(`/api/v2/models/${v2.body.id}`)).status).toBe(204);
      const fallback = await startInference(alice, { model_display_name: family });
      expect(fallback.body.model_id).toBe(v1.body.id);
      const v3 = await register(alice, family);
      expect(v3.body.version).toBe(3);
      const relisted = await alice.get(`/api/v2/models?display_name=${family}&owner=${USERS.alice.email}`);
      expect(relisted.body.results.map((model: { version: number }) => model.version).sort()).toEqual([1, 3]);
    });

    it("lists and finds own and public models only, and never another user's private one", async () => {
      const ids = async (client: ApiClient) =>
        (await client.get('/api/v2/models?limit=1000')).body.results.map((model: { id: string }) => model.id);
      expect(await ids(alice)).toEqual(expect.arrayContaining([alicePrivate.id, bobPublic.id]));
      expect(await ids(bob)).toContain(bobPublic.id);
      expect(await ids(bob)).not.toContain(alicePrivate.id);
      expect(await ids(admin)).toEqual(expect.arrayContaining([alicePrivate.id, bobPublic.id]));
      expect((await bob.get(`/api/v2/models/${alicePrivate.id}`)).status).toBe(404);
      expect((await alice.get(`/api/v2/models/${bobPublic.id}`)).status).toBe(200);
    });

    it('resolves model_display_name to own models first, then public ones; never to a private one of another user', async () => {
      // Bob's name resolves to his own (public) model, not alice's private one of the same name.
      const byBob = await startInference(bob, { model_display_name: name });
      expect(byBob.status).toBe(201);
      expect(byBob.body.model_id).toBe(bobPublic.id);
      const byAlice = await startInference(alice, { model_display_name: name });
      expect(byAlice.status).toBe(201);
      expect(byAlice.body.model_id).toBe(alicePrivate.id);
      const privateOfOther = await startInference(bob, { model_id: alicePrivate.id });
      expect(privateOfOther.status).toBe(422);
      expect(privateOfOther.body.field).toBe('model_id');
    });

    it('lets only the owner or an admin change or delete a model', async () => {
      // Visible but not theirs: 403; not even visible: 404.
      expect((await patch(alice, `/api/v2/models/${bobPublic.id}`, { description: 'mine now' })).status).toBe(403);
      expect((await alice.delete(`/api/v2/models/${bobPublic.id}`)).status).toBe(403);
      expect((await patch(bob, `/api/v2/models/${alicePrivate.id}`, { visibility: 'public' })).status).toBe(404);
      expect((await bob.delete(`/api/v2/models/${alicePrivate.id}`)).status).toBe(404);

      const changed = await patch(bob, `/api/v2/models/${bobPublic.id}`, { description: 'v2', visibility: 'private' });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ id: bobPublic.id, description: 'v2', visibility: 'private' });
      expect((await alice.get(`/api/v2/models/${bobPublic.id}`)).status).toBe(404);
      const byAdmin = await patch(admin, `/api/v2/models/${bobPublic.id}`, { visibility: 'public' });
      expect(byAdmin.status).toBe(200);
      expect((await alice.get(`/api/v2/models/${bobPublic.id}`)).status).toBe(200);

      const invalid = await patch(bob, `/api/v2/models/${bobPublic.id}`, { model_input_data_spec: {} });
      expect(invalid.status).toBe(400);
      const empty = await patch(bob, `/api/v2/models/${bobPublic.id}`, {});
      expect(empty.status).toBe(400);
    });

    it('soft-deletes: the model is gone for lookups and new inferences get 422, inferences already made stay', async () => {
      const victim = await register(alice, `to-delete-${database}-${Date.now()}`, { visibility: 'public' });
      const running = await startInference(alice, { model_id: victim.body.id });
      expect(running.status).toBe(201);
      expect((await alice.delete(`/api/v2/models/${victim.body.id}`)).status).toBe(204);
      expect((await alice.get(`/api/v2/models/${victim.body.id}`)).status).toBe(404);
      const refused = await startInference(alice, { model_id: victim.body.id });
      expect(refused.status).toBe(422);
      expect(refused.body.message).toMatch(/deleted/);
      const byName = await startInference(bob, { model_display_name: victim.body.display_name });
      expect(byName.status).toBe(422);
      // The inference started before the delete is still there with its model.
      const before = await alice.get(`/api/v2/inference/${running.body.id}`);
      expect(before.status).toBe(200);
      expect(before.body.model_id).toBe(victim.body.id);
      // The name is free again for its owner.
      expect((await register(alice, victim.body.display_name)).status).toBe(201);
    });
  });

  describe('API keys', () => {
    it('adds keys (admin only), stores only their SHA-256, revokes them live', async () => {
      expect((await alice.post('/api/v2/api-keys', { user: USERS.alice.email })).status).toBe(403);
      const created = await admin.post('/api/v2/api-keys', { user: 'carol@example.com', name: 'ci' });
      expect(created.status).toBe(201);
      const key: string = created.body.key;
      expect(key).toMatch(/^gik_[A-Za-z0-9_-]{43}$/);
      const carol = alice.as(key);
      const second = await admin.post('/api/v2/api-keys', { user: 'carol@example.com', name: 'laptop' });
      const carolToo = alice.as(second.body.key);

      expect((await carol.get('/api/v2/api-keys/current')).body).toMatchObject({
        user: 'carol@example.com',
        admin: false,
      });
      expect((await carolToo.get('/api/v2/models')).status).toBe(200);
      const listed = await carol.get('/api/v2/api-keys');
      expect(listed.body.results.map((row: { id: string }) => row.id).sort()).toEqual(
        [created.body.id, second.body.id].sort(),
      );
      expect(JSON.stringify(listed.body)).not.toContain(key);

      // The database holds the digest, never the key.
      const rows: Array<Record<string, unknown>> = await stack.dataSource.query(
        `SELECT * FROM api_keys WHERE id = $1`,
        [created.body.id],
      );
      expect(JSON.stringify(rows)).not.toContain(key);
      expect(JSON.stringify(rows)).not.toContain(key.slice(12));
      expect(rows[0]!.key_sha256).toBe(require('node:crypto').createHash('sha256').update(key).digest('hex'));

      // Others cannot see or revoke carol's key; carol can revoke her own: refused from the next request on.
      expect((await bob.delete(`/api/v2/api-keys/${created.body.id}`)).status).toBe(404);
      expect((await carol.delete(`/api/v2/api-keys/${created.body.id}`)).status).toBe(204);
      const refused = await carol.get('/api/v2/models');
      expect(refused.status).toBe(401);
      expect(refused.body.message).toMatch(/invalid API key/);
      expect((await carolToo.get('/api/v2/models')).status).toBe(200);
      expect((await admin.delete(`/api/v2/api-keys/${second.body.id}`)).status).toBe(204);
      expect((await carolToo.get('/api/v2/models')).status).toBe(401);
      // Keys from the configuration keep working.
      expect((await alice.get('/api/v2/models')).status).toBe(200);
    });

    it('answers 429 with Retry-After past the per-key rate limit', async () => {
      const created = await admin.post('/api/v2/api-keys', { user: 'dave@example.com', rate_limit_per_minute: 3 });
      const dave = alice.as(created.body.key);
      const statuses: number[] = [];
      let limited: Response | undefined;
      for (let i = 0; i < 5; i++) {
        const response = await fetch(`${stack.baseUrl}/api/v2/models`, {
          headers: { Authorization: `Bearer ${created.body.key}` },
        });
        statuses.push(response.status);
        if (response.status === 429) limited ??= response;
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(limited!.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(await limited!.json()).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
      // Another key of the same stack is not affected.
      expect((await alice.get('/api/v2/models')).status).toBe(200);
      expect((await dave.get('/api/v2/api-keys/current')).status).toBe(429);
    });
  });

  if (database === 'postgres') {
    describe('tokens and the Temporal payload codec', () => {
      let inferenceId: string;

      beforeAll(async () => {
        const model = await register(alice, `codec-${Date.now()}`);
        const started = await startInference(alice, { model_id: model.body.id });
        expect(started.status).toBe(201);
        inferenceId = started.body.id;
      });

      it('revokes events tokens of an inference (and its webhook) on request', async () => {
        const issued = await alice.post(`/api/v2/inference/${inferenceId}/events/token`, {});
        expect(issued.status).toBe(201);
        const before = await fetch(issued.body.events_url, { signal: AbortSignal.timeout(2000) }).catch(() => null);
        expect(before?.status).toBe(200);
        await before?.body?.cancel();
        expect((await bob.post(`/api/v2/inference/${inferenceId}/revoke-tokens`, {})).status).toBe(404);
        const revoked = await alice.post(`/api/v2/inference/${inferenceId}/revoke-tokens`, { webhook: true });
        expect(revoked.status).toBe(200);
        expect(revoked.body).toMatchObject({ inference_id: inferenceId, token_generation: 1, webhook_revoked: true });
        const after = await fetch(issued.body.events_url);
        expect(after.status).toBe(403);
        expect(((await after.json()) as { message: string }).message).toMatch(/revoked/);
        const fresh = await alice.post(`/api/v2/inference/${inferenceId}/events/token`, {});
        const again = await fetch(fresh.body.events_url, { signal: AbortSignal.timeout(2000) }).catch(() => null);
        expect(again?.status).toBe(200);
        await again?.body?.cancel();
      });

      it("keeps users' e-mails, URLs and step failure reasons out of the raw history; the codec endpoint decodes it for admins only", async () => {
        // A worker runs the inference: its fetch step fails (HTTP 404), so the history holds a failed activity too.
        await stack.startWorker();
        try {
          expect((await alice.waitForInference(inferenceId, 120_000)).status).toBe('FAILED');
        } finally {
          await stack.stopWorker();
        }
        // The workflow read the encrypted reason back: the step says why it failed (URL token redacted).
        const tasks = await alice.get(`/api/v2/inference/${inferenceId}/tasks`);
        const fetchStep = tasks.body.tasks[0].pipeline_steps[0];
        expect(fetchStep).toMatchObject({ process_id: 'terrakit-data-fetch', status: 'FAILED' });
        expect(fetchStep.message).toMatch(/scenes\/a\.tif.*HTTP 404/);

        const connection = await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
        try {
          // A client without the codec sees what the server stores.
          const raw = new Client({ connection });
          const history = await raw.workflow.getHandle(inferenceId).fetchHistory();
          const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
          expect(bytes).toContain('binary/encrypted');
          for (const secret of [USERS.alice.email, 'url-secret-token-0123456789', '/scenes/a.tif', 'HTTP 404'])
            expect(bytes).not.toContain(secret);
          const failures = history
            .events!.map((event) => event.activityTaskFailedEventAttributes?.failure)
            .filter((failure) => failure !== undefined && failure !== null);
          expect(failures.length).toBeGreaterThan(0);
          for (const failure of failures) {
            expect(failure).toMatchObject({ message: 'Encoded failure', stackTrace: '' });
            expect(text(failure.encodedAttributes!.metadata!.encoding)).toBe('binary/encrypted');
          }

          const started = history.events!.find((event) => event.workflowExecutionStartedEventAttributes)!;
          const payloads = started.workflowExecutionStartedEventAttributes!.input!.payloads!.map(payloadJson);
          const forAlice = await alice.post('/api/v2/temporal-codec/decode', { payloads });
          expect(forAlice.status).toBe(403);
          const decoded = await admin.post('/api/v2/temporal-codec/decode', { payloads });
          expect(decoded.status).toBe(200);
          const input = JSON.parse(Buffer.from(decoded.body.payloads[0].data, 'base64').toString('utf8'));
          expect(JSON.stringify(input)).toContain(secretUrl);
          expect(Buffer.from(decoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('json/plain');
          // The failure's message and stack trace, for admins (what the Web UI shows them).
          const failure = await admin.post('/api/v2/temporal-codec/decode', {
            payloads: [payloadJson(failures[0]!.encodedAttributes!)],
          });
          expect(failure.status).toBe(200);
          const attributes = JSON.parse(Buffer.from(failure.body.payloads[0].data, 'base64').toString('utf8'));
          expect(attributes.message).toMatch(/scenes\/a\.tif.*HTTP 404/);
          expect(attributes.message).not.toContain('url-secret-token');

          // A payload that was never encoded (a history recorded without the codec) passes through unchanged.
          const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: 'eyJhIjoxfQ==' };
          expect((await admin.post('/api/v2/temporal-codec/decode', { payloads: [plain] })).body.payloads).toEqual([
            plain,
          ]);
          const pseudonym = await admin.get(
            `/api/v2/temporal-codec/user-pseudonym?user=${encodeURIComponent(USERS.alice.email)}`,
          );
          expect(pseudonym.body.created_by_attribute).toMatch(/^user-[0-9a-f]{16}$/);
          expect(bytes).toContain(pseudonym.body.created_by_attribute);
        } finally {
          await connection.close();
        }
      });

      it('decodes for Web UI users signed in with OpenID Connect who are admins by e-mail or role; refuses the rest', async () => {
        const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: 'eyJhIjoxfQ==' };
        const encoded = (await admin.post('/api/v2/temporal-codec/encode', { payloads: [plain] })).body;
        const decodeWith = (token: string) => alice.as(token).post('/api/v2/temporal-codec/decode', encoded);
        const adminClaims = { sub: 'user-ops', aud: UI_CLIENT_ID, email: UI_ADMIN_EMAIL, email_verified: true };

        // Admins: by e-mail (listed in another case), by a role in a nested claim with the client in `azp`
        // (Keycloak's access tokens), by the e-mail the userinfo endpoint gives for a token without one.
        oidc.userinfo.set('user-info', { email: UI_ADMIN_EMAIL, email_verified: true });
        for (const token of [
          await oidc.issue(adminClaims),
          await oidc.issue({
            sub: 'user-role',
            aud: 'account',
            azp: UI_CLIENT_ID,
            realm_access: { roles: [UI_ADMIN_ROLE] },
          }),
          await oidc.issue({ sub: 'user-info', aud: UI_CLIENT_ID }),
        ]) {
          const decoded = await decodeWith(token);
          expect(decoded.status).toBe(200);
          expect(decoded.body.payloads).toEqual([plain]);
        }
        expect(oidc.requests.filter((path) => path === '/userinfo')).toHaveLength(1);

        // Signed in, but not an admin (or an admin e-mail the provider has not verified): 403.
        for (const claims of [
          { sub: 'user-alice', aud: UI_CLIENT_ID, email: USERS.alice.email, email_verified: true },
          { ...adminClaims, sub: 'user-unverified', email_verified: false },
          { sub: 'user-role', aud: UI_CLIENT_ID, realm_access: { roles: ['viewer'] } },
        ]) {
          const refused = await decodeWith(await oidc.issue(claims));
          expect(refused.status).toBe(403);
          expect(refused.body.message).toMatch(/admins only/);
        }

        // Not a token of this provider for this client: 401.
        const invalid: Array<[string, RegExp]> = [
          [await oidc.issue(adminClaims, { expiresInSeconds: -120 }), /exp/],
          [await oidc.issue(adminClaims, { forged: true }), /signature/],
          [await oidc.issue({ ...adminClaims, aud: 'another-client' }), /audience/],
          [await oidc.issue({ ...adminClaims, iss: 'http://127.0.0.1:1' }), /iss/],
          [(await oidc.issue(adminClaims)).replace(/\.[^.]*$/, '.'), /signature|JWS/],
        ];
        for (const [token, message] of invalid) {
          const refused = await decodeWith(token);
          expect(refused.status).toBe(401);
          expect(refused.body.message).toMatch(message);
        }
        // Only the codec endpoint takes sign-in tokens; everywhere else they are not API keys.
        expect((await alice.as(await oidc.issue(adminClaims)).get('/api/v2/models')).status).toBe(401);
        // Discovery and keys were fetched once and kept.
        expect(oidc.requests.filter((path) => path === '/.well-known/openid-configuration')).toHaveLength(1);
        expect(oidc.requests.filter((path) => path === '/jwks')).toHaveLength(1);
      });

      it('answers CORS preflights of the Web UI origin only', async () => {
        const preflight = (origin: string) =>
          fetch(`${stack.baseUrl}/api/v2/temporal-codec/decode`, {
            method: 'OPTIONS',
            headers: {
              Origin: origin,
              'Access-Control-Request-Method': 'POST',
              'Access-Control-Request-Headers': 'authorization,content-type,x-namespace',
            },
          });
        const allowed = await preflight(UI_ORIGIN);
        expect(allowed.status).toBe(204);
        expect(allowed.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
        expect(allowed.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
        const other = await preflight('http://evil.example.com');
        expect(other.status).toBe(403);
        expect(other.headers.get('access-control-allow-origin')).toBeNull();
      });
    });
  }
});
