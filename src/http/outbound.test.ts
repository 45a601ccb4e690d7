import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  blockedAddressRule,
  checkOutboundUrl,
  checkOutboundUrlSyntax,
  OutboundRefusedError,
} from './outbound.ts';

const strict = { allowHosts: [], requireHttps: true };
const octet = fc.integer({ min: 0, max: 255 });

/** Every IPv6 spelling of an IPv4 address that a host could resolve to or a URL could carry. */
function ipv6Spellings(a: number, b: number, c: number, d: number): string[] {
  const hex = (x: number, y: number) => ((x << 8) | y).toString(16);
  return [
    `::ffff:${a}.${b}.${c}.${d}`,
    `::ffff:${hex(a, b)}:${hex(c, d)}`,
    `0:0:0:0:0:ffff:${hex(a, b)}:${hex(c, d)}`,
    `64:ff9b::${hex(a, b)}:${hex(c, d)}`,
    `2002:${hex(a, b)}:${hex(c, d)}::1`,
  ];
}

describe('blockedAddressRule', () => {
  it('names the rule of each internal range, in both families', () => {
    expect(blockedAddressRule('127.0.0.1')).toBe('loopback');
    expect(blockedAddressRule('::1')).toBe('loopback');
    expect(blockedAddressRule('169.254.169.254')).toBe('metadata');
    expect(blockedAddressRule('fd00:ec2::254')).toBe('metadata');
    expect(blockedAddressRule('169.254.1.1')).toBe('link-local');
    expect(blockedAddressRule('fe80::1%eth0')).toBe('link-local');
    expect(blockedAddressRule('10.0.0.1')).toBe('private');
    expect(blockedAddressRule('172.31.255.255')).toBe('private');
    expect(blockedAddressRule('fd12:3456::1')).toBe('private');
    expect(blockedAddressRule('100.64.0.1')).toBe('cgnat');
    expect(blockedAddressRule('0.0.0.0')).toBe('unspecified');
    expect(blockedAddressRule('::')).toBe('unspecified');
    expect(blockedAddressRule('239.1.1.1')).toBe('multicast');
    expect(blockedAddressRule('255.255.255.255')).toBe('reserved');
    // public addresses pass
    expect(blockedAddressRule('93.184.216.34')).toBeNull();
    expect(blockedAddressRule('172.32.0.1')).toBeNull();
    expect(blockedAddressRule('2606:4700::1111')).toBeNull();
  });

  it('gives every IPv6 spelling of an IPv4 address the same answer as the address itself', () => {
    fc.assert(
      fc.property(octet, octet, octet, octet, (a, b, c, d) => {
        const v4 = blockedAddressRule(`${a}.${b}.${c}.${d}`);
        for (const v6 of ipv6Spellings(a, b, c, d)) {
          const rule = blockedAddressRule(v6);
          // 6to4/NAT64 of a public address are public; of an internal one, refused with its rule
          expect(rule, v6).toBe(v4);
        }
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  it('refuses all of 127/8, 10/8 and 169.254/16 whatever the host bits', () => {
    fc.assert(
      fc.property(octet, octet, octet, (b, c, d) => {
        expect(blockedAddressRule(`127.${b}.${c}.${d}`)).toBe('loopback');
        expect(blockedAddressRule(`10.${b}.${c}.${d}`)).toBe('private');
        expect(['link-local', 'metadata']).toContain(blockedAddressRule(`169.254.${c}.${d}`));
      }),
      { seed: 42, numRuns: 1000 },
    );
  });
});

describe('checkOutboundUrl', () => {
  const rule = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e instanceof OutboundRefusedError ? e.rule : 'other';
    }
    return null;
  };

  it('requires https outside dev unless the host is allowed, and refuses credentials', () => {
    expect(rule(() => checkOutboundUrlSyntax('http://example.com/x', strict))).toBe('https-required');
    expect(rule(() => checkOutboundUrlSyntax('https://example.com/x', strict))).toBeNull();
    expect(
      rule(() => checkOutboundUrlSyntax('http://example.com/x', { allowHosts: [], requireHttps: false })),
    ).toBeNull();
    expect(rule(() => checkOutboundUrlSyntax('ftp://example.com/x', strict))).toBe('scheme');
    expect(rule(() => checkOutboundUrlSyntax('https://a:b@example.com/x', strict))).toBe('credentials');
    expect(rule(() => checkOutboundUrlSyntax('nonsense', strict))).toBe('invalid-url');
  });

  it('lets the operator allow an internal host, over http too', () => {
    const policy = { allowHosts: ['127.0.0.1', 'Hooks.Internal'], requireHttps: true };
    expect(rule(() => checkOutboundUrlSyntax('http://127.0.0.1:9/x', policy))).toBeNull();
    expect(rule(() => checkOutboundUrlSyntax('http://hooks.internal/x', policy))).toBeNull();
    expect(rule(() => checkOutboundUrlSyntax('https://127.0.0.2/x', policy))).toBe('loopback');
  });

  it('never answers anything but a refusal or a URL for arbitrary input (no crash)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl()), (raw) => {
        let result: unknown;
        try {
          result = checkOutboundUrlSyntax(raw, strict);
        } catch (e) {
          result = e;
        }
        expect(result instanceof URL || result instanceof OutboundRefusedError).toBe(true);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('refuses a name that resolves to loopback', async () => {
    await expect(checkOutboundUrl('https://localhost/x', strict)).rejects.toMatchObject({ rule: 'loopback' });
  });
});
