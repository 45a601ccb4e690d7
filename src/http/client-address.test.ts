import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { clientAddressResolver, type TrustProxy } from './client-address.ts';

async function seen(trust: TrustProxy, peer: string, forwarded?: string) {
  const resolver = clientAddressResolver(() => trust);
  const app = new Hono();
  app.get('/', (c) => c.json({ address: resolver.address(c), https: resolver.https(c) }));
  const headers: Record<string, string> = { 'x-forwarded-proto': 'https' };
  if (forwarded) headers['x-forwarded-for'] = forwarded;
  const r = await app.request('/', { headers }, { incoming: { socket: { remoteAddress: peer } } });
  return (await r.json()) as { address: string; https: boolean };
}

describe('client address', () => {
  it('trusts nobody by default: the socket address, whatever X-Forwarded-For says', async () => {
    expect(await seen(false, '127.0.0.1', '6.6.6.6')).toEqual({ address: '127.0.0.1', https: false });
    expect(await seen(false, '::ffff:203.0.113.9', '6.6.6.6')).toEqual({
      address: '203.0.113.9',
      https: false,
    });
  });

  it('with N hops, takes the entry N places from the right (a client cannot prepend its own)', async () => {
    expect((await seen(1, '10.0.0.2', '6.6.6.6, 198.51.100.7')).address).toBe('198.51.100.7');
    expect((await seen(2, '10.0.0.2', '6.6.6.6, 198.51.100.7, 10.0.0.1')).address).toBe('198.51.100.7');
    expect((await seen(1, '10.0.0.2')).address).toBe('10.0.0.2');
    expect((await seen(1, '10.0.0.2', '1.1.1.1')).https).toBe(true);
  });

  it('with CIDRs, walks past trusted proxies only', async () => {
    const trust = ['10.0.0.0/8', '::1'];
    expect((await seen(trust, '10.1.2.3', '6.6.6.6, 198.51.100.7, 10.9.9.9')).address).toBe('198.51.100.7');
    expect((await seen(trust, '203.0.113.1', '6.6.6.6')).address).toBe('203.0.113.1');
    expect((await seen(trust, '::1', '198.51.100.8')).address).toBe('198.51.100.8');
  });
});
