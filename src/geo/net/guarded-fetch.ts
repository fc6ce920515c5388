/**
 * HTTP requests under the address policy, checked at connect time: every connection (the first and each
 * redirect hop) resolves its host through `policyLookup`, so the address dialled is the address checked,
 * and a redirect to an internal address, or a name that resolves to one only the second time (DNS
 * rebinding), is refused. Redirects are followed by hand, at most `maxRedirects`, http(s) only.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as ipaddr from 'ipaddr.js';
import {
  type AddressPolicy,
  isRefusedAddress,
  parseHttpUrl,
  policyLookup,
  redactUrl,
  type Resolver,
  systemResolver,
  UrlPolicyError,
  urlHost,
} from './address-policy';

export interface GuardedResponse {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  /** The body stream; read it or call `body.destroy()`. */
  body: http.IncomingMessage;
  /** The URL that answered, after redirects. */
  url: URL;
  redirects: number;
}

export interface GuardedGetOptions {
  policy: AddressPolicy;
  /** GET unless given; a request with a body is never redirected (maxRedirects is ignored, 3xx returned). */
  method?: string;
  body?: string | Buffer;
  /** Whole request including the body. */
  timeoutMs: number;
  signal?: AbortSignal;
  maxRedirects?: number;
  headers?: Record<string, string>;
  resolve?: Resolver;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Checks one hop before connecting: scheme, and an IP literal (Node does not call `lookup` for literals). */
function checkHop(url: URL, policy: AddressPolicy): void {
  const host = urlHost(url);
  if (ipaddr.isValid(host) && isRefusedAddress(host, policy)) {
    throw new UrlPolicyError(
      `${redactUrl(url)} is a private or internal address, which this server does not fetch (${policy.settingName}=false)`,
    );
  }
}

function requestOnce(url: URL, options: GuardedGetOptions, signal: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(url, {
      method: options.method ?? 'GET',
      headers: {
        'user-agent': 'geo-inference/1',
        ...(options.body !== undefined ? { 'content-length': String(Buffer.byteLength(options.body)) } : {}),
        ...options.headers,
      },
      lookup: policyLookup(options.policy, options.resolve ?? systemResolver) as never,
      signal,
    });
    request.once('response', resolve);
    request.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EREFUSEDADDRESS') reject(new UrlPolicyError(error.message));
      else reject(error);
    });
    request.end(options.body);
  });
}

export async function guardedGet(raw: string | URL, options: GuardedGetOptions): Promise<GuardedResponse> {
  const maxRedirects = options.body !== undefined ? 0 : (options.maxRedirects ?? 10);
  const signals = [AbortSignal.timeout(options.timeoutMs), ...(options.signal ? [options.signal] : [])];
  const signal = AbortSignal.any(signals);
  let url = typeof raw === 'string' ? parseHttpUrl(raw) : raw;
  for (let redirects = 0; ; redirects++) {
    checkHop(url, options.policy);
    const response = await requestOnce(url, options, signal);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECTS.has(status) && location && maxRedirects > 0) {
      response.resume();
      if (redirects >= maxRedirects) throw new Error(`more than ${maxRedirects} redirects`);
      let next: URL;
      try {
        next = parseHttpUrl(new URL(location, url).toString());
      } catch (error) {
        throw new UrlPolicyError(`redirect from ${redactUrl(url)}: the target ${(error as Error).message}`);
      }
      // Credentials never travel to another origin.
      if (next.origin !== url.origin) {
        next.username = '';
        next.password = '';
      }
      url = next;
      continue;
    }
    return {
      status,
      statusText: response.statusMessage ?? '',
      headers: response.headers,
      body: response,
      url,
      redirects,
    };
  }
}
