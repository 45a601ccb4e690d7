import { afterAll, describe, expect, it } from 'vitest';
import {
  dedicatedServer,
  freePort,
  REDIS_URL,
  servicesAvailable,
  uniqueName,
} from '../../test/scale-out/services.ts';
import { ProblemError } from '../http/problem.ts';
import { gcra } from './gcra.ts';
import { RedisCounterStore } from './redis.ts';
import type { QuotaSpec, RateLimitResult, RateLimitSpec } from './types.ts';

const available = await servicesAvailable('redis');

const quota = (over: Partial<QuotaSpec> = {}): QuotaSpec => ({
  limit: 100,
  hard: true,
  resetAt: Date.now() + 60_000,
  seed: async () => 0,
  ...over,
});

/** Pseudo-random but repeatable request times. */
function times(seed: number, count: number, maxGap: number): number[] {
  let x = seed;
  let t = 1_700_000_000_000;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    t += x % (maxGap + 1);
    return t;
  });
}

// One table for both backends: [label, spec, request times].
const gcraCases: [string, RateLimitSpec, number[]][] = [
  ['burst of limit at once', { limit: 10, windowMs: 1000 }, Array(12).fill(5_000)],
  ['steady at the rate, no burst', { limit: 10, windowMs: 1000, burst: 1 }, [0, 100, 200, 300, 350, 400]],
  ['burst 3 then steady', { limit: 10, windowMs: 1000, burst: 3 }, [0, 0, 0, 0, 100, 100, 250, 900]],
  ['refill after the window', { limit: 2, windowMs: 1000 }, [0, 0, 0, 1000, 1000, 1000, 2500]],
  ['one per second, burst 60', { limit: 60, windowMs: 60_000 }, [...Array(61).fill(0), 999, 1000, 1001]],
  ['non-integer interval (7 per 1 s)', { limit: 7, windowMs: 1000, burst: 2 }, times(7, 60, 250)],
  ['random traffic against 100/min', { limit: 100, windowMs: 60_000, burst: 20 }, times(42, 300, 900)],
  ['random traffic, burst 0 means 1', { limit: 5, windowMs: 1000, burst: 0 }, times(3, 80, 400)],
];

describe.skipIf(!available)('RedisCounterStore', () => {
  const prefix = `${uniqueName('tgtest')}:`;
  const stores: RedisCounterStore[] = [];
  const open = async (options: Partial<ConstructorParameters<typeof RedisCounterStore>[0]> = {}) => {
    const store = new RedisCounterStore({ url: REDIS_URL, prefix, ...options });
    stores.push(store);
    if (options.url === undefined || options.url === REDIS_URL) await store.ready();
    return store;
  };
  afterAll(async () => {
    const cleaner = stores[0];
    if (cleaner?.healthy) {
      const keys = await cleaner.redis.keys(`${prefix}*`);
      if (keys.length > 0) await cleaner.redis.del(...keys);
    }
    for (const store of stores) await store.close();
  });

  it.each(gcraCases)('GCRA gives the same answers as the memory GCRA: %s', async (label, spec, at) => {
    const store = await open();
    let tat: number | undefined;
    const expected: RateLimitResult[] = [];
    const actual: RateLimitResult[] = [];
    for (const now of at) {
      const d = gcra(tat, now, spec);
      if (d.result.allowed) tat = d.tat;
      expected.push(d.result);
      actual.push(await store.rateLimit(`gcra-${label}`, spec, now));
    }
    expect(actual).toEqual(expected);
    expect(expected.some((r) => !r.allowed)).toBe(true);
  });

  it('a global rate limit holds across two nodes', async () => {
    const [nodeA, nodeB] = [await open(), await open()];
    const spec = { limit: 50, windowMs: 60_000 };
    const now = Date.now();
    const results = await Promise.all(
      Array.from({ length: 120 }, (_, i) => (i % 2 ? nodeA : nodeB).rateLimit('global', spec, now)),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(50);
  });

  it('hard quota: 200 concurrent consumes on two nodes against 100 remaining allow exactly 100', async () => {
    const [nodeA, nodeB] = [await open(), await open()];
    let seeds = 0;
    const spec = quota({
      limit: 150,
      seed: async () => {
        seeds++;
        await new Promise((r) => setTimeout(r, 10));
        return 50;
      },
    });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? nodeA : nodeB).consume('q-hard', 1, spec)),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(100);
    expect(seeds).toBeLessThanOrEqual(2); // at most one meter read per node
    expect(await nodeA.consume('q-hard', 1, spec)).toMatchObject({
      allowed: false,
      used: 150,
      remaining: 0,
      limit: 150,
    });
  });

  it('a consume larger than what is left is refused and changes nothing', async () => {
    const store = await open();
    const spec = quota({ limit: 10 });
    expect(await store.consume('q-big', 8, spec)).toMatchObject({ allowed: true, used: 8 });
    expect(await store.consume('q-big', 3, spec)).toMatchObject({ allowed: false, used: 8, remaining: 2 });
    expect(await store.consume('q-big', 2, spec)).toMatchObject({ allowed: true, used: 10, remaining: 0 });
  });

  it('soft quota always allows and counts overage; add never refuses', async () => {
    const store = await open();
    const soft = quota({ limit: 2, hard: false });
    for (let i = 0; i < 3; i++) await store.consume('q-soft', 1, soft);
    expect(await store.consume('q-soft', 1, soft)).toMatchObject({ allowed: true, used: 4, remaining: 0 });
    const hard = quota({ limit: 10, seed: async () => 3 });
    expect(await store.add('q-tokens', 20.5, hard)).toMatchObject({
      allowed: true,
      used: 23.5,
      remaining: 0,
    });
    expect(await store.consume('q-tokens', 1, hard)).toMatchObject({ allowed: false });
  });

  it('the counter expires at resetAt and is seeded again from the meter', async () => {
    const store = await open();
    const first = quota({ limit: 5, resetAt: Date.now() + 150, seed: async () => 5 });
    expect((await store.consume('q-period', 1, first)).allowed).toBe(false);
    await new Promise((r) => setTimeout(r, 250));
    const next = quota({ limit: 5, seed: async () => 0 });
    expect(await store.consume('q-period', 1, next)).toMatchObject({ allowed: true, used: 1 });
  });

  it('reset forgets a counter', async () => {
    const store = await open();
    const spec = quota({ limit: 1 });
    await store.consume('q-reset', 1, spec);
    expect((await store.consume('q-reset', 1, spec)).allowed).toBe(false);
    await store.reset('q-reset');
    expect((await store.consume('q-reset', 1, spec)).allowed).toBe(true);
  });

  it('fail open: with Redis unreachable, limits are enforced by the node itself', async () => {
    const port = await freePort();
    const store = await open({ url: `redis://127.0.0.1:${port}`, onRedisError: 'open' });
    expect(store.healthy).toBe(false);
    const spec = { limit: 2, windowMs: 1000 };
    const now = Date.now();
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await store.rateLimit('rl', spec, now));
    expect(results.map((r) => r.allowed)).toEqual([true, true, false]);
    const q = quota({ limit: 2, seed: async () => 1 });
    expect((await store.consume('q', 1, q)).allowed).toBe(true);
    expect((await store.consume('q', 1, q)).allowed).toBe(false);
  });

  it('fail closed: with Redis unreachable, checks fail with 503 problem; add still succeeds', async () => {
    const port = await freePort();
    const store = await open({ url: `redis://127.0.0.1:${port}`, onRedisError: 'closed' });
    const refused = await store.rateLimit('rl', { limit: 2, windowMs: 1000 }, Date.now()).catch((e) => e);
    expect(refused).toBeInstanceOf(ProblemError);
    expect(refused).toMatchObject({
      status: 503,
      type: 'counters-unavailable',
      headers: { 'retry-after': '1' },
    });
    await expect(store.consume('q', 1, quota())).rejects.toMatchObject({ status: 503 });
    expect(await store.add('q', 5, quota())).toMatchObject({ allowed: true, used: 5 });
  });

  it('after a Redis restart (counters lost), quota counters are seeded again from the meter', async () => {
    const redis = await dedicatedServer('redis');
    try {
      let meter = 0; // what metering has recorded
      const spec = quota({ limit: 10, seed: async () => meter });
      const store = await open({ url: redis.url, onRedisError: 'open' });
      await store.ready();
      for (let i = 0; i < 4; i++) {
        expect((await store.consume('q', 1, spec)).allowed).toBe(true);
        meter++;
      }
      await redis.kill();
      // Outage: the node counts locally (seeded from the meter: 4 used).
      for (let i = 0; i < 3; i++) {
        expect((await store.consume('q', 1, spec)).allowed).toBe(true);
        meter++;
      }
      expect(store.healthy).toBe(false);
      await redis.start();
      await store.ready();
      await expect.poll(() => store.healthy, { timeout: 30_000, interval: 20 }).toBe(true);
      // Back on Redis: 7 used (from the meter), 3 left.
      const after = [];
      for (let i = 0; i < 4; i++) after.push(await store.consume('q', 1, spec));
      expect(after.map((r) => r.allowed)).toEqual([true, true, true, false]);
      expect(after[3]).toMatchObject({ used: 10 });
    } finally {
      await redis.close();
    }
  });

  it('after a Redis restart while metering lags, a hard quota resumes from what the nodes last knew', async () => {
    // The issue-12 sequence: the metering worker is down (the meter stays at 0), a customer is at
    // 90/100 on two nodes, Redis restarts empty. Seeded from the meter alone, 100 more were allowed.
    const redis = await dedicatedServer('redis');
    try {
      const spec = quota({ limit: 100, seed: async () => 0 });
      const nodes = [await open({ url: redis.url }), await open({ url: redis.url })];
      for (const node of nodes) await node.ready();
      for (let i = 0; i < 90; i++)
        expect((await (nodes[i % 2] as RedisCounterStore).consume('q-lag', 1, spec)).allowed).toBe(true);
      await redis.kill();
      await redis.start();
      for (const node of nodes) {
        await node.ready();
        await expect.poll(() => node.healthy, { timeout: 30_000, interval: 20 }).toBe(true);
      }
      const after = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (nodes[i % 2] as RedisCounterStore).consume('q-lag', 1, spec)),
      );
      expect(after.filter((r) => r.allowed)).toHaveLength(10);
    } finally {
      await redis.close();
    }
  });
});
