import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_URL, servicesAvailable } from '../../test/scale-out/services.ts';
import { runExclusive, scheduleExclusive } from './locks.ts';
import { openPGliteStore } from './pglite.ts';
import { openPostgresStore } from './postgres.ts';
import type { Store } from './store.ts';

const available = await servicesAvailable('postgres');

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

describe.skipIf(!available)('runExclusive on PostgreSQL (advisory lock)', () => {
  // Two stores = two processes' pools: the lock must hold across them.
  let nodeA: Store;
  let nodeB: Store;
  beforeAll(async () => {
    nodeA = await openPostgresStore(DATABASE_URL, { max: 3 });
    nodeB = await openPostgresStore(DATABASE_URL, { max: 3 });
  });
  afterAll(async () => {
    await nodeA?.close();
    await nodeB?.close();
  });

  it('lets only one node run a job at a time, and the next one after it finished', async () => {
    const name = `billing-run-${Date.now()}`;
    const release = deferred();
    const entered = deferred();
    const first = runExclusive(nodeA, name, async () => {
      entered.resolve();
      await release.promise;
      return 'A';
    });
    await entered.promise;
    expect(await runExclusive(nodeB, name, async () => 'B')).toEqual({ ran: false });
    expect(await runExclusive(nodeA, name, async () => 'A again')).toEqual({ ran: false });
    // A different job is not blocked.
    expect(await runExclusive(nodeB, `${name}-other`, async () => 'other')).toEqual({
      ran: true,
      value: 'other',
    });
    release.resolve();
    expect(await first).toEqual({ ran: true, value: 'A' });
    expect(await runExclusive(nodeB, name, async () => 'B')).toEqual({ ran: true, value: 'B' });
  });

  it('releases the lock when the job throws', async () => {
    const name = `dunning-${Date.now()}`;
    await expect(
      runExclusive(nodeA, name, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await runExclusive(nodeB, name, async () => 1)).toEqual({ ran: true, value: 1 });
  });

  it('scheduleExclusive runs each round on one node only', async () => {
    const name = `alerts-${Date.now()}`;
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    const job = async () => {
      concurrent++;
      runs++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((r) => setTimeout(r, 30));
      concurrent--;
    };
    const a = scheduleExclusive(nodeA, name, 5, job);
    const b = scheduleExclusive(nodeB, name, 5, job);
    await new Promise((r) => setTimeout(r, 300));
    await a.stop();
    await b.stop();
    expect(runs).toBeGreaterThan(2);
    expect(maxConcurrent).toBe(1);
  });
});

describe('runExclusive on the embedded store', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openPGliteStore();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('excludes a second run in the same process and lets the job use the store', async () => {
    const release = deferred();
    const first = runExclusive(store, 'billing-run', async () => {
      const rows = await store.query<{ one: number }>('select 1 as one');
      await release.promise;
      return rows[0]?.one;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(await runExclusive(store, 'billing-run', async () => 2)).toEqual({ ran: false });
    release.resolve();
    expect(await first).toEqual({ ran: true, value: 1 });
  });
});
