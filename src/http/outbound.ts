import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, request } from 'undici';
import { ProblemError } from './problem.ts';

/**
 * Outgoing HTTP to URLs that customers and operators type in (webhook endpoints, budget-alert
 * webhooks). Such a URL must never reach what sits behind Tollgate: loopback, private networks,
 * link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254), carrier-grade NAT, and the
 * IPv6 spellings of all of them (IPv4-mapped, NAT64, 6to4).
 *
 * The check runs twice: when the URL is saved (so the customer gets a 400 naming the rule) and
 * inside the connection's own DNS lookup on every call (`connect.lookup` of an undici Agent), so
 * the address that was checked is the address connected to: a host that answers a public address
 * at creation and 127.0.0.1 a second later (DNS rebinding) is refused at connect time. Redirects
 * are never followed (a 3xx is the receiver's answer, a failure for webhooks), every call has a
 * timeout, and https is required outside `tollgate dev`.
 *
 * Hosts in the operator's allow-list (`notifications.allowHosts`: names or IP literals) skip the
 * address rules and may use http: an operator's own receiver on the internal network, or a test's
 * receiver on 127.0.0.1.
 */
export interface OutboundPolicy {
  /** Host names or IP literals (case-insensitive, exact) exempt from the address and https rules. */
  allowHosts: readonly string[];
  /** https only (everything but `tollgate dev`). */
  requireHttps: boolean;
}

/** Why a URL was refused: `rule` is a stable slug, `message` names it for a person. */
export class OutboundRefusedError extends Error {
  readonly rule: OutboundRule;
  constructor(rule: OutboundRule, message: string) {
    super(message);
    this.name = 'OutboundRefusedError';
    this.rule = rule;
  }
}

export type OutboundRule =
  | 'invalid-url'
  | 'scheme'
  | 'https-required'
  | 'credentials'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'cgnat'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

const RULES: [
  Exclude<OutboundRule, 'invalid-url' | 'scheme' | 'https-required' | 'credentials'>,
  BlockList,
][] = [];
function rule(name: (typeof RULES)[number][0], v4: string[], v6: string[]): void {
  const list = new BlockList();
  for (const cidr of v4) {
    const [net, bits] = cidr.split('/') as [string, string];
    list.addSubnet(net, Number(bits), 'ipv4');
  }
  for (const cidr of v6) {
    const [net, bits] = cidr.split('/') as [string, string];
    list.addSubnet(net, Number(bits), 'ipv6');
  }
  RULES.push([name, list]);
}
// Order matters: the first matching rule names the refusal (metadata before link-local).
rule('metadata', ['169.254.169.254/32', '100.100.100.200/32'], ['fd00:ec2::254/128']);
rule('unspecified', ['0.0.0.0/8'], ['::/128']);
rule('loopback', ['127.0.0.0/8'], ['::1/128']);
rule('private', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'], ['fc00::/7']);
rule('link-local', ['169.254.0.0/16'], ['fe80::/10', 'fec0::/10']);
rule('cgnat', ['100.64.0.0/10'], []);
rule('multicast', ['224.0.0.0/4'], ['ff00::/8']);
rule(
  'reserved',
  [
    '192.0.0.0/24',
    '192.0.2.0/24',
    '198.18.0.0/15',
    '198.51.100.0/24',
    '203.0.113.0/24',
    '240.0.0.0/4', // includes 255.255.255.255
  ],
  ['100::/64', '2001:db8::/32'],
);

/** The IPv4 address an IPv6 address carries (IPv4-mapped, IPv4-compatible, NAT64, 6to4), if any. */
function embeddedIPv4(ipv6: string): string | null {
  const lower = ipv6.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1] as string;
  const groups = expandIPv6(lower);
  if (!groups) return null;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0);
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated; not :: or ::1 themselves)
  if (zeros(0, 5) && groups[5] === 0xffff) return v4(groups[6] as number, groups[7] as number);
  if (zeros(0, 6) && ((groups[6] as number) !== 0 || (groups[7] as number) > 1))
    return v4(groups[6] as number, groups[7] as number);
  // 64:ff9b::/96 (NAT64 well-known prefix)
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6))
    return v4(groups[6] as number, groups[7] as number);
  // 2002::/16 (6to4: the IPv4 address is in bits 16–47)
  if (groups[0] === 0x2002) return v4(groups[1] as number, groups[2] as number);
  return null;
}

function expandIPv6(ip: string): number[] | null {
  let text = ip;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const fill = 8 - left.length - right.length;
  if (fill < 0 || (tail === undefined && fill !== 0)) return null;
  return [...left, ...new Array(fill).fill(0), ...right];
}

/** The rule an address breaks, or null for a public address. */
export function blockedAddressRule(address: string): OutboundRule | null {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 0) return 'invalid-url';
  if (family === 6) {
    const v4 = embeddedIPv4(bare);
    if (v4 !== null) {
      const inner = blockedAddressRule(v4);
      if (inner) return inner;
    }
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [name, list] of RULES) if (list.check(bare, type)) return name;
  return null;
}

const RULE_TEXT: Record<OutboundRule, string> = {
  'invalid-url': 'is not a valid URL',
  scheme: 'must use https (or http)',
  'https-required':
    'must use https (http only for hosts in notifications.allowHosts or under `tollgate dev`)',
  credentials: 'must not carry a user name or password',
  loopback: 'points at a loopback address',
  private: 'points at a private-network address',
  'link-local': 'points at a link-local address',
  metadata: 'points at a cloud metadata address',
  cgnat: 'points at a carrier-grade NAT address (100.64.0.0/10)',
  unspecified: 'points at an unspecified address (0.0.0.0 or ::)',
  multicast: 'points at a multicast address',
  reserved: 'points at a reserved or documentation address',
};

function refuse(rule: OutboundRule, url: string, address?: string): OutboundRefusedError {
  const where = address && address !== url ? ` (${address})` : '';
  const allow =
    rule === 'invalid-url' || rule === 'scheme' || rule === 'credentials' || rule === 'https-required'
      ? ''
      : '; outgoing calls never reach internal addresses unless the operator lists the host in notifications.allowHosts';
  return new OutboundRefusedError(rule, `The URL ${RULE_TEXT[rule]}${where}${allow}.`);
}

function isAllowedHost(policy: OutboundPolicy, hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return policy.allowHosts.some((h) => h.replace(/^\[|\]$/g, '').toLowerCase() === host);
}

/** The checks that need no DNS: syntax, scheme, credentials, IP literals. Returns the parsed URL. */
export function checkOutboundUrlSyntax(raw: string, policy: OutboundPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('invalid-url', raw);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse('scheme', raw);
  if (url.username || url.password) throw refuse('credentials', raw);
  const allowed = isAllowedHost(policy, url.hostname);
  if (url.protocol === 'http:' && policy.requireHttps && !allowed) throw refuse('https-required', raw);
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (!allowed && isIP(literal) !== 0) {
    const broken = blockedAddressRule(literal);
    if (broken) throw refuse(broken, raw, literal);
  }
  return url;
}

function lookupAll(hostname: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))),
  );
}

/**
 * Everything `checkOutboundUrlSyntax` checks, plus every address the host resolves to (all of
 * them must be public: a client may connect to any). A host that does not resolve now is
 * accepted: each call checks again at connect time.
 */
export async function checkOutboundUrl(raw: string, policy: OutboundPolicy): Promise<URL> {
  const url = checkOutboundUrlSyntax(raw, policy);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isAllowedHost(policy, host) || isIP(host) !== 0) return url;
  let addresses: LookupAddress[];
  try {
    addresses = await lookupAll(host);
  } catch {
    return url;
  }
  for (const { address } of addresses) {
    const broken = blockedAddressRule(address);
    if (broken) throw refuse(broken, raw, address);
  }
  return url;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

export interface OutboundClient {
  /** POSTs `body`; never follows a redirect. Throws OutboundRefusedError for a refused target. */
  post(
    url: string,
    init: { headers: Record<string, string>; body: string; timeoutMs: number },
  ): Promise<OutboundResponse>;
  close(): Promise<void>;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** The client: one undici Agent whose connections look up and check their own address. */
export function createOutboundClient(policy: () => OutboundPolicy): OutboundClient {
  const checkedLookup = (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    dnsLookup(hostname, { all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      if (!isAllowedHost(policy(), hostname)) {
        for (const { address } of addresses) {
          const broken = blockedAddressRule(address);
          if (broken) return callback(refuse(broken, hostname, address), []);
        }
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (!first)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
  const agent = new Agent({
    connect: { lookup: checkedLookup as never, timeout: 10_000 },
    // The caller's timeout (an AbortSignal) bounds the whole call; these bound each phase.
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
    keepAliveTimeout: 4_000,
  });

  return {
    async post(url, init) {
      checkOutboundUrlSyntax(url, policy());
      const response = await request(url, {
        method: 'POST',
        headers: init.headers,
        body: init.body,
        dispatcher: agent,
        signal: AbortSignal.timeout(init.timeoutMs),
      });
      // The receiver's body is not needed; read a little so the connection can be reused.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      return { status: response.statusCode, headers: response.headers };
    },
    close: () => agent.close(),
  };
}

/** The 400 a refused URL gets at the edge, naming the field and the rule. */
export function urlRefusedProblem(error: OutboundRefusedError, field: string): ProblemError {
  return new ProblemError({
    status: 400,
    type: 'url-refused',
    title: 'URL refused',
    detail: `${field}: ${error.message}`,
    extensions: { rule: error.rule, errors: [{ path: field, message: error.message }] },
  });
}
