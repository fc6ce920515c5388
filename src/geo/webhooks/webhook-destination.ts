import { lookup } from 'node:dns/promises';
import * as ipaddr from 'ipaddr.js';

/** Ranges a webhook may not target unless private addresses are allowed (SSRF into our own network). */
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

export class WebhookDestinationError extends Error {}

function isBlocked(address: string): boolean {
  const parsed = ipaddr.process(address);
  return BLOCKED_RANGES.has(parsed.range());
}

/**
 * Checks a webhook URL: http(s) only, no credentials in it, and, unless allowed by configuration, a host
 * that does not resolve to a loopback, private, link-local or otherwise internal address.
 */
export async function checkWebhookDestination(rawUrl: string, allowPrivateAddresses: boolean): Promise<URL> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new WebhookDestinationError(`"${rawUrl}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new WebhookDestinationError('must be an http or https URL');
  if (url.username || url.password)
    throw new WebhookDestinationError('must not carry credentials; requests are signed instead');
  if (allowPrivateAddresses) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (ipaddr.isValid(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await lookup(host, { all: true })).map((entry) => entry.address);
    } catch (error) {
      throw new WebhookDestinationError(
        `host ${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  const blocked = addresses.find(isBlocked);
  if (blocked) {
    throw new WebhookDestinationError(
      `host ${host} is a private or internal address (${blocked}), which WEBHOOK_ALLOW_PRIVATE_ADDRESSES=false disallows`,
    );
  }
  return url;
}
