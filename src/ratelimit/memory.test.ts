import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCounterStore } from './memory.ts';
import type { QuotaSpec } from './types.ts';

let now = 1_000_000;
const store = new MemoryCounterStore({ now: () => now });
afterEach(() => {
  now = 1_000_000;
});

const quota = (over: Partial<QuotaSpec> = {}): QuotaSpec => ({
  limit: 100,
  hard: true,
  resetAt: now + 60_000,
  seed: async () => 0,
  ...over,
});

describe('MemoryCounterStore', () => {
  it('rate limits per key with GCRA', () => {
    const spec = { limit: 2, windowMs: 1000 };
    expect(store.rateLimit('a', spec, now).allowed).toBe(true);
    expect(store.rateLimit('a', spec, now).allowed).toBe(true);
    const refused = store.rateLimit('a', spec, now);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 500 });
    expect(store.rateLimit('b', spec, now).allowed).toBe(true);
  });

  it('hard quota: 200 concurrent consumes against 100 remaining allow exactly 100', async () => {
    let seeds = 0;
    const spec = quota({
      limit: 150,
      seed: async () => {
        seeds++;
        await new Promise((r) => setTimeout(r, 10));
        return 50;
      },
    });
    const results = await Promise.all(Array.from({ length: 200 }, () => store.consume('q1', 1, spec)));
    expect(results.filter((r) => r.allowed)).toHaveLength(100);
    expect(seeds).toBe(1);
    const after = await store.consume('q1', 1, spec);
    expect(after).toMatchObject({ allowed: false, used: 150, remaining: 0, limit: 150 });
  });

  it('soft quota always allows and counts overage', async () => {
    const spec = quota({ limit: 2, hard: false });
    for (let i = 0; i < 3; i++) await store.consume('soft', 1, spec);
    const r = await store.consume('soft', 1, spec);
    expect(r).toMatchObject({ allowed: true, used: 4, remaining: 0 });
  });

  it('add never refuses; the counter expires at resetAt and is seeded again', async () => {
    const spec = quota({ limit: 10, seed: async () => 3 });
    expect(await store.add('tok', 20, spec)).toMatchObject({ allowed: true, used: 23, remaining: 0 });
    expect(await store.consume('tok', 1, spec)).toMatchObject({ allowed: false });
    now = spec.resetAt;
    const next = quota({ limit: 10, seed: async () => 0 });
    expect(await store.consume('tok', 1, next)).toMatchObject({ allowed: true, used: 1 });
  });

  it('reset forgets a counter', async () => {
    const spec = quota({ limit: 1 });
    await store.consume('r', 1, spec);
    expect((await store.consume('r', 1, spec)).allowed).toBe(false);
    store.reset('r');
    expect((await store.consume('r', 1, spec)).allowed).toBe(true);
  });

  it('answers synchronously once seeded', async () => {
    const spec = quota();
    await store.consume('sync', 1, spec);
    const r = store.consume('sync', 1, spec);
    expect(r instanceof Promise).toBe(false);
  });
});
