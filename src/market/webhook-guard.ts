// Where a webhook may be sent: not to the node's own machine or network. A customer names the URL,
// and the node POSTs to it, so without a guard a task could make the node call its loopback
// services, the private network it sits in or a cloud's metadata address (server-side request
// forgery). The host is checked when the task is created (a clear 400) and again, on the
// addresses actually connected to, at every delivery: a name that resolved to a public address
// at creation may resolve to a private one later (DNS rebinding). `webhook_allow_private = true`
// lifts the guard (a node whose customers' receivers are on its own network, tests).

import { lookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses a webhook may not reach: IANA special-purpose ranges that are not the public internet.
 * One list per family: a BlockList also matches IPv4 addresses against IPv6 rules (as ::a.b.c.d),
 * which would make ::/96 take in every IPv4 address.
 */
const PRIVATE_V4 = new BlockList();
const PRIVATE_V6 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata services)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  PRIVATE_V4.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 96], // unspecified, loopback, IPv4-compatible
  ['::ffff:0:0', 96], // IPv4-mapped: an IPv4 address in IPv6 form
  ['64:ff9b:1::', 48], // local-use NAT64
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const)
  PRIVATE_V6.addSubnet(net, prefix, 'ipv6');

/** Whether an IP address (v4 or v6 text) is loopback, private, link-local or otherwise not public. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true;
  return family === 4 ? PRIVATE_V4.check(address, 'ipv4') : PRIVATE_V6.check(address, 'ipv6');
}

/** A URL's host as an address or a name: without IPv6 brackets. */
function hostOf(url: string): string {
  const host = new URL(url).hostname;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

export type ResolveAll = (host: string) => Promise<string[]>;

/** Every address a name resolves to, as the system resolver gives them. */
export const resolveAll: ResolveAll = (host) =>
  new Promise((resolve, reject) =>
    lookup(host, { all: true }, (err, addresses) =>
      err ? reject(err) : resolve(addresses.map((a) => a.address)),
    ),
  );

/** How long the check at task creation waits for the name to resolve. */
const RESOLVE_TIMEOUT_MS = 5000;

/**
 * Why a task may not name this webhook URL (undefined: it may). The URL is already known to be an
 * absolute http(s) URL. A name is resolved: it is refused when any of its addresses is private,
 * or when it does not resolve at all (the node could never deliver to it).
 */
export async function webhookTargetProblem(
  url: string,
  resolve: ResolveAll = resolveAll,
): Promise<string | undefined> {
  const host = hostOf(url);
  const allow = 'webhook_allow_private = true lets a node deliver to its own network';
  if (isIP(host) !== 0)
    return isPrivateAddress(host)
      ? `must not point at a loopback, private or link-local address (${host}); ${allow}`
      : undefined;
  let addresses: string[];
  try {
    addresses = await Promise.race([
      resolve(host),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('timed out')), RESOLVE_TIMEOUT_MS).unref(),
      ),
    ]);
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).message;
    return `its host ${host} does not resolve (${code}); name a host the node can reach`;
  }
  const bad = addresses.find(isPrivateAddress);
  if (addresses.length === 0) return `its host ${host} does not resolve; name a host the node can reach`;
  return bad === undefined
    ? undefined
    : `must not point at a loopback, private or link-local address (${host} is ${bad}); ${allow}`;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for http.request/https.request that refuses private addresses: the check is made on
 * the very addresses the socket connects to, so a name cannot resolve to a public address when
 * the task is created and to a private one at delivery.
 */
export function publicOnlyLookup(
  hostname: string,
  options: LookupAllOptions | { all?: boolean; family?: number },
  callback: LookupCallback,
): void {
  lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad) {
      const refused: NodeJS.ErrnoException = new Error(
        `${hostname} resolves to ${bad.address}, a loopback, private or link-local address (webhook_allow_private is false)`,
      );
      refused.code = 'EPRIVATEADDRESS';
      return callback(refused, []);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first)
      return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
    callback(null, first.address, first.family);
  });
}

/** Whether a delivery to this URL must be refused before connecting: a private IP literal. */
export function privateLiteral(url: string): string | undefined {
  const host = hostOf(url);
  return isIP(host) !== 0 && isPrivateAddress(host) ? host : undefined;
}
