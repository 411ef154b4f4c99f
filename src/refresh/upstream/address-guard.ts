import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { AllowedHost } from '../../config/config';

/** The error code of a connection refused because its host name resolved to a non-public address. */
export const ADDRESS_NOT_ALLOWED = 'ERR_TB_ADDRESS_NOT_ALLOWED';

/**
 * Addresses a token URL's host NAME must never resolve to: loopback, private,
 * link-local (cloud metadata at 169.254.169.254), carrier-grade NAT,
 * unspecified, multicast, reserved, and their IPv6 counterparts.
 */
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['2001:db8::', 32],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/** `::ffff:a.b.c.d` (and `::a.b.c.d`) as the IPv4 address it names; anything else lower-cased. */
export function canonicalAddress(address: string): string {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  const dotted = /^::(?:ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/.exec(bare);
  if (dotted && isIP(dotted[1]) === 4) return dotted[1];
  const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(bare);
  if (hexMapped) {
    const high = parseInt(hexMapped[1], 16);
    const low = parseInt(hexMapped[2], 16);
    return [high >> 8, high & 255, low >> 8, low & 255].join('.');
  }
  return bare;
}

export function isPublicAddress(address: string): boolean {
  const canonical = canonicalAddress(address);
  const family = isIP(canonical);
  if (family === 0) return false;
  return !NON_PUBLIC.check(canonical, family === 4 ? 'ipv4' : 'ipv6');
}

type Resolver = (
  hostname: string,
  options: { all: true; family?: number; hints?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/**
 * A `lookup` for node:http(s) request options: resolves the host name, and
 * refuses the connection when any address it resolves to is not public,
 * unless TOKEN_URL_ALLOWLIST names that very address (`http://127.0.0.1`).
 * It runs for every connection, so a name that resolved to a public address
 * when the client was registered and to 127.0.0.1 now (DNS rebinding) is
 * refused now. IP literals in a URL never reach a lookup; the allowlist
 * already decides those.
 */
export function guardedLookup(allowlist: AllowedHost[], resolve: Resolver = systemResolver): LookupFunction {
  const namedAddresses = new Set(
    allowlist.map((entry) => canonicalAddress(entry.hostname)).filter((hostname) => isIP(hostname) !== 0),
  );
  return (hostname, options, callback) => {
    resolve(
      hostname,
      { all: true, family: options.family as number | undefined, hints: options.hints },
      (error, addresses) => {
        if (error) return callback(error, '', 0);
        const refused = addresses.find(
          (entry) => !isPublicAddress(entry.address) && !namedAddresses.has(canonicalAddress(entry.address)),
        );
        if (refused || addresses.length === 0) {
          const denied: NodeJS.ErrnoException = new Error(`${hostname} resolves to an address that is not public`);
          denied.code = ADDRESS_NOT_ALLOWED;
          return callback(denied, '', 0);
        }
        if (options.all)
          return (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, addresses);
        return callback(null, addresses[0].address, addresses[0].family);
      },
    );
  };
}
