/**
 * The one address policy of every outbound request a user can steer (input URLs, STAC asset hrefs, the
 * permanent-water reference, webhooks): http(s) only, and unless private addresses are allowed, no
 * loopback, private, link-local (cloud metadata: 169.254.169.254), unique-local or otherwise internal
 * address, however it is spelled (IPv4-mapped IPv6, NAT64, 6to4, decimal or hex IPv4) or reached (a host
 * name resolving to one). Hosts on the allow-list are trusted whatever they resolve to.
 *
 * The check runs twice: on the URL when the request arrives (a clear 422), and at connect time on the
 * address actually dialled (`policyLookup`), so DNS rebinding and redirects cannot get around it.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import * as ipaddr from 'ipaddr.js';
import type { AllowedHosts } from '../../platform/config/allowed-hosts';

export type { AllowedHosts };

/** Ranges refused unless private addresses are allowed (SSRF into our own network). */
const BLOCKED_RANGES = new Set([
  'unspecified',
  'broadcast',
  'multicast',
  'linkLocal',
  'loopback',
  'private',
  'uniqueLocal',
  'carrierGradeNat',
  'reserved',
  'ipv4Mapped',
  'rfc6145',
  'rfc6052',
  '6to4',
  'teredo',
]);

export interface AddressPolicy {
  allowPrivateAddresses: boolean;
  allowedHosts: AllowedHosts;
  /** The setting a refusal names, so an operator knows what to change. */
  settingName: string;
}

/** The URL is not one we fetch: wrong scheme, malformed, or an internal address the policy refuses. */
export class UrlPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UrlPolicyError';
  }
}

function hostAllowed(host: string, allowed: AllowedHosts): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return allowed.names.includes(name) || allowed.suffixes.some((suffix) => name.endsWith(suffix));
}

function addressAllowed(address: ipaddr.IPv4 | ipaddr.IPv6, allowed: AllowedHosts): boolean {
  return allowed.ranges.some(([range, bits]) => range.kind() === address.kind() && address.match(range, bits));
}

/** Whether the policy refuses to connect to this IP address (a literal, or what a host name resolved to). */
export function isRefusedAddress(address: string, policy: AddressPolicy): boolean {
  if (policy.allowPrivateAddresses) return false;
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process() turns ::ffff:127.0.0.1 into 127.0.0.1, so a mapped address is judged as what it maps to.
    parsed = ipaddr.process(address);
  } catch {
    return true;
  }
  if (addressAllowed(parsed, policy.allowedHosts)) return false;
  return BLOCKED_RANGES.has(parsed.range());
}

function refusal(host: string, address: string, policy: AddressPolicy): UrlPolicyError {
  const what = host === address ? `${address} is` : `host ${host} resolves to ${address},`;
  return new UrlPolicyError(
    `${what} a private or internal address, which this server does not fetch (${policy.settingName}=false; ` +
      `trusted internal hosts can be listed in the allow-list)`,
  );
}

/** The bare host of a URL (no IPv6 brackets). */
export function urlHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/** Parses an http(s) URL; throws UrlPolicyError for anything else. */
export function parseHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UrlPolicyError('is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UrlPolicyError(`scheme ${url.protocol} is not supported (use http or https)`);
  return url;
}

export type Resolver = (host: string) => Promise<string[]>;

/** dns.lookup (what the HTTP client itself uses: /etc/hosts, then DNS), every address. */
export const systemResolver: Resolver = (host) =>
  new Promise((resolve, reject) =>
    dnsLookup(host, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve((addresses as LookupAddress[]).map((entry) => entry.address)),
    ),
  );

/**
 * The request-time check: an http(s) URL whose host is allowed, or whose addresses (the literal, or every
 * address the name resolves to now) are all acceptable. A name that does not resolve is let through: the
 * fetch then fails as a download error, and connect time checks again anyway.
 */
export async function checkUrlAgainstPolicy(
  raw: string,
  policy: AddressPolicy,
  resolve: Resolver = systemResolver,
): Promise<URL> {
  const url = parseHttpUrl(raw);
  if (policy.allowPrivateAddresses) return url;
  const host = urlHost(url);
  if (ipaddr.isValid(host)) {
    if (isRefusedAddress(host, policy)) throw refusal(host, host, policy);
    return url;
  }
  if (hostAllowed(host, policy.allowedHosts)) return url;
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch {
    return url;
  }
  const refused = addresses.find((address) => isRefusedAddress(address, policy));
  if (refused) throw refusal(host, refused, policy);
  return url;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/http/https connections: resolves like dns.lookup, then refuses the connection when
 * any address of the host is one the policy refuses (unless the host name is allow-listed). Node calls it
 * for every connection it opens, so the address checked is the address dialled.
 */
export function policyLookup(policy: AddressPolicy, resolve: Resolver = systemResolver) {
  return (hostname: string, options: { all?: boolean; family?: number } | number, callback: LookupCallback): void => {
    const wantAll = typeof options === 'object' && options.all === true;
    resolve(hostname).then(
      (addresses) => {
        if (addresses.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
          return;
        }
        if (!policy.allowPrivateAddresses && !hostAllowed(hostname, policy.allowedHosts)) {
          const refused = addresses.find((address) => isRefusedAddress(address, policy));
          if (refused) {
            callback(Object.assign(refusal(hostname, refused, policy), { code: 'EREFUSEDADDRESS' }), '');
            return;
          }
        }
        const family = (address: string) => (ipaddr.IPv6.isValid(address) && address.includes(':') ? 6 : 4);
        if (wantAll)
          callback(
            null,
            addresses.map((address) => ({ address, family: family(address) })),
          );
        else callback(null, addresses[0], family(addresses[0]));
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}

/**
 * The connect-time check of a host before dialling it: an IP literal is judged directly (Node does not
 * call `lookup` for literals), a name through `policyLookup`. Resolves to the address to connect to.
 */
export function resolveForConnect(host: string, policy: AddressPolicy, resolve: Resolver = systemResolver) {
  return new Promise<string>((done, fail) => {
    const bare = host.replace(/^\[|\]$/g, '');
    if (ipaddr.isValid(bare)) {
      if (isRefusedAddress(bare, policy)) fail(Object.assign(refusal(bare, bare, policy), { code: 'EREFUSEDADDRESS' }));
      else done(bare);
      return;
    }
    policyLookup(policy, resolve)(bare, {}, (error, address) => (error ? fail(error) : done(address as string)));
  });
}

/** Query parameters that carry credentials in pre-signed and tokenised URLs. */
const SECRET_PARAM =
  /^(x-amz-.*|x-goog-.*|sig|signature|token|access_token|api_key|apikey|key|secret|password|passwd|auth|authorization|credential|session|se|sp|sv|sr|skoid|sktid|st|expires|policy|key-pair-id)$/i;

/**
 * A URL as it may appear in step messages and logs: user and password removed, credential-like query
 * parameters' values replaced by `[redacted]`. Unparseable input is reduced to a placeholder.
 */
export function redactUrl(raw: string | URL): string {
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    return '[an invalid URL]';
  }
  url.username = '';
  url.password = '';
  const names = [...new Set([...url.searchParams.keys()])];
  for (const name of names) {
    if (SECRET_PARAM.test(name)) url.searchParams.set(name, '[redacted]');
  }
  return url.toString().replace(/%5Bredacted%5D/g, '[redacted]');
}

/** The settings the policies are built from. */
export interface AddressPolicySettings {
  fetchAllowPrivateAddresses: boolean;
  webhookAllowPrivateAddresses: boolean;
  allowedInternalHosts: AllowedHosts;
}

/** Policy of inputs: `spatial_domain.urls`, STAC asset hrefs, the PERMANENT_WATER_MASK_PATH URL. */
export function inputAddressPolicy(
  settings: Pick<AddressPolicySettings, 'fetchAllowPrivateAddresses' | 'allowedInternalHosts'>,
  trustedHosts: string[] = [],
): AddressPolicy {
  const allowed = settings.allowedInternalHosts;
  return {
    allowPrivateAddresses: settings.fetchAllowPrivateAddresses,
    allowedHosts: { ...allowed, names: [...allowed.names, ...trustedHosts.map((host) => host.toLowerCase())] },
    settingName: 'FETCH_ALLOW_PRIVATE_ADDRESSES',
  };
}

/** Policy of webhook deliveries. */
export function webhookAddressPolicy(
  settings: Pick<AddressPolicySettings, 'webhookAllowPrivateAddresses' | 'allowedInternalHosts'>,
): AddressPolicy {
  return {
    allowPrivateAddresses: settings.webhookAllowPrivateAddresses,
    allowedHosts: settings.allowedInternalHosts,
    settingName: 'WEBHOOK_ALLOW_PRIVATE_ADDRESSES',
  };
}

/** Every http(s) URL in a text (an error message, a log line) redacted with redactUrl. */
export function redactUrlsIn(text: string): string {
  // Trailing punctuation (`url: reason`) belongs to the sentence, not the URL.
  return text.replace(/https?:\/\/[^\s"'<>)]+?(?=[:,.;]?(?:[\s"'<>)]|$))/gi, (url) => redactUrl(url));
}
