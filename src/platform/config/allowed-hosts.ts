/** The allow-list of trusted internal hosts for outbound requests (ALLOWED_INTERNAL_HOSTS). */
import * as ipaddr from 'ipaddr.js';

/** `ALLOWED_INTERNAL_HOSTS` entries: host names (`tiles.internal`, `*.corp.example`), addresses and CIDR ranges. */
export interface AllowedHosts {
  names: string[];
  suffixes: string[];
  ranges: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
}

export const NO_ALLOWED_HOSTS: AllowedHosts = { names: [], suffixes: [], ranges: [] };

/** Parses a comma-separated allow-list; throws on an entry that is neither a host name, an address nor a CIDR. */
export function parseAllowedHosts(raw: string | undefined): AllowedHosts {
  const allowed: AllowedHosts = { names: [], suffixes: [], ranges: [] };
  for (const entry of (raw ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter(Boolean)) {
    const bare = entry.replace(/^\[|\]$/g, '');
    if (bare.includes('/')) {
      try {
        allowed.ranges.push(ipaddr.parseCIDR(bare));
      } catch {
        throw new Error(`"${entry}" is not a valid CIDR range`);
      }
    } else if (ipaddr.isValid(bare)) {
      const address = ipaddr.process(bare);
      allowed.ranges.push([address, address.kind() === 'ipv4' ? 32 : 128]);
    } else if (/^\*\.[a-z0-9.-]+$/.test(entry)) {
      allowed.suffixes.push(entry.slice(1));
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/.test(entry)) {
      allowed.names.push(entry.replace(/\.$/, ''));
    } else {
      throw new Error(`"${entry}" is not a host name, an IP address or a CIDR range`);
    }
  }
  return allowed;
}
