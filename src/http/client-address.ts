import { BlockList, isIP } from 'node:net';
import type { Context } from 'hono';

/**
 * Who is on the other end of a console request. `X-Forwarded-For` and `X-Forwarded-Proto` are
 * believed only as far as `console.trustProxy` says: `false` (default) trusts nobody and uses the
 * socket's address; a number trusts that many proxy hops in front of Tollgate (the client is the
 * entry that many places from the right); a list of addresses/CIDRs trusts those proxies, walking
 * the header from the right past every trusted hop. A client cannot choose its own address.
 */
export type TrustProxy = false | number | readonly string[];

export interface ClientAddressResolver {
  /** The client's IP address (or `unknown` for in-process requests without a socket). */
  address(c: Context): string;
  /** Whether the client reached us over https (directly, or as a trusted proxy says). */
  https(c: Context): boolean;
}

function peerOf(c: Context): string | undefined {
  // @hono/node-server exposes the socket on c.env.incoming; in-process requests have none.
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

function stripMapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export function trustedProxies(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address, bits] = entry.split('/');
    const family = isIP(address ?? '');
    if (family === 0) throw new Error(`trustProxy: "${entry}" is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(bits), type);
  }
  return list;
}

export function clientAddressResolver(trust: () => TrustProxy): ClientAddressResolver {
  let cachedFor: readonly string[] | null = null;
  let cachedList: BlockList | null = null;
  const isTrusted = (cidrs: readonly string[], address: string) => {
    if (cachedFor !== cidrs) {
      cachedList = trustedProxies(cidrs);
      cachedFor = cidrs;
    }
    const plain = stripMapped(address);
    const family = isIP(plain);
    return family !== 0 && cachedList!.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  };

  /** The forwarded chain, client first, ending with the socket peer. */
  const chain = (c: Context): string[] => {
    const forwarded = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part.length > 0);
    return [...forwarded, stripMapped(peerOf(c) ?? 'unknown')];
  };

  /** How many entries from the right are trusted proxies (0 = the peer itself is the client). */
  const trustedHops = (hops: string[]): number => {
    const setting = trust();
    if (setting === false || setting === 0) return 0;
    if (typeof setting === 'number') return Math.min(setting, hops.length - 1);
    let n = 0;
    while (n < hops.length - 1 && isTrusted(setting, hops[hops.length - 1 - n]!)) n++;
    return n;
  };

  return {
    address(c) {
      const hops = chain(c);
      return hops[hops.length - 1 - trustedHops(hops)]!;
    },
    https(c) {
      if (new URL(c.req.url).protocol === 'https:') return true;
      const hops = chain(c);
      if (trustedHops(hops) === 0) return false;
      return c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https';
    },
  };
}
