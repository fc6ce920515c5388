import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface OidcProviderDouble {
  /** The issuer (`iss`), also the base of its discovery document. */
  issuer: string;
  /** Paths asked for so far, in order. */
  requests: string[];
  /**
   * A signed access token for `claims` (iss, iat and exp set unless given). `forged`: signed by a key the
   * provider never published, under the published key's id.
   */
  issue(claims: JWTPayload, options?: { expiresInSeconds?: number; forged?: boolean }): Promise<string>;
  /** What GET /userinfo adds to `sub` for a subject's tokens (tokens it did not issue get 401). */
  userinfo: Map<string, Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * A real HTTP OpenID Connect provider on loopback standing in for the Web UI's identity provider: a discovery
 * document, a JWKS with one RS256 key generated per run, and a userinfo endpoint that accepts the tokens it
 * issued. Every other path answers 404.
 */
export async function startOidcProviderDouble(): Promise<OidcProviderDouble> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const forger = await generateKeyPair('RS256');
  const kid = 'test-key-1';
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const requests: string[] = [];
  const userinfo = new Map<string, Record<string, unknown>>();
  const issued = new Map<string, string>();
  let issuer = '';

  const server = http.createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://double').pathname;
    requests.push(path);
    const json = (status: number, body: unknown) =>
      response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (path === '/.well-known/openid-configuration') {
      json(200, {
        issuer,
        jwks_uri: `${issuer}/jwks`,
        userinfo_endpoint: `${issuer}/userinfo`,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        id_token_signing_alg_values_supported: ['RS256'],
      });
    } else if (path === '/jwks') {
      json(200, { keys: [jwk] });
    } else if (path === '/userinfo') {
      const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
      const subject = token ? issued.get(token) : undefined;
      if (subject) json(200, { sub: subject, ...userinfo.get(subject) });
      else json(401, { error: 'invalid_token' });
    } else {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    requests,
    userinfo,
    async issue(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const key: SigningKey = options.forged ? forger.privateKey : privateKey;
      const token = await new SignJWT({
        iss: issuer,
        iat: now,
        exp: now + (options.expiresInSeconds ?? 300),
        ...claims,
      })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .sign(key);
      if (typeof claims.sub === 'string') issued.set(token, claims.sub);
      return token;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
