import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore, type Store } from '../store/index.ts';
import { silentLogger } from '../util/log.ts';
import { createScheduler } from './scheduler.ts';

let store: Store;
beforeAll(async () => {
  store = await openStore(':memory:');
}, 180_000);
afterAll(() => store?.close());

it('a failing job is retried with backoff and does not stop the other jobs', async () => {
  const scheduler = createScheduler({ store, log: silentLogger, maxBackoffMs: 40 });
  let healthyRuns = 0;
  let flakyCalls = 0;
  scheduler.add({ name: 'healthy', everyMs: 5, run: async () => void healthyRuns++ });
  scheduler.add({
    name: 'flaky',
    everyMs: 5,
    runAtStart: true,
    run: async () => {
      flakyCalls++;
      if (flakyCalls <= 3) throw new Error(`broken ${flakyCalls}`);
    },
  });
  scheduler.start();
  await expect.poll(() => flakyCalls, { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(5);
  await expect.poll(() => healthyRuns, { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(5);
  await scheduler.stop();
  const flaky = scheduler.status().find((s) => s.name === 'flaky')!;
  expect(flaky.failures).toBe(3);
  expect(flaky.failing).toBe(0); // succeeded since
  expect(flaky.lastError).toBe('broken 3');
});

it('runs of one job never overlap, and stop waits for the run in progress', async () => {
  const scheduler = createScheduler({ store, log: silentLogger });
  let active = 0;
  let maxActive = 0;
  let finished = 0;
  let release: () => void = () => {};
  scheduler.add({
    name: 'slow',
    everyMs: 1,
    exclusive: true,
    runAtStart: true,
    run: async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => {
        release = r;
      });
      active--;
      finished++;
    },
  });
  scheduler.start();
  await expect.poll(() => active, { timeout: 30_000, interval: 10 }).toBe(1);
  const stopped = scheduler.stop();
  let stopDone = false;
  void stopped.then(() => {
    stopDone = true;
  });
  await new Promise((r) => setImmediate(r));
  expect(stopDone).toBe(false);
  release();
  await stopped;
  expect(finished).toBe(1);
  expect(maxActive).toBe(1);
});

it('refuses a job scheduled twice under one name', () => {
  const scheduler = createScheduler({ store, log: silentLogger });
  scheduler.add({ name: 'once', everyMs: 1000, run: async () => {} });
  expect(() => scheduler.add({ name: 'once', everyMs: 1000, run: async () => {} })).toThrow(
    /already scheduled/,
  );
});

it('runSoon brings the next run forward, and asked during a run, runs once more right after it', async () => {
  const scheduler = createScheduler({ store, log: silentLogger });
  let runs = 0;
  let release: () => void = () => {};
  scheduler.add({
    name: 'hourly',
    everyMs: 3_600_000,
    run: async () => {
      runs++;
      if (runs === 1) await new Promise<void>((r) => (release = r));
    },
  });
  scheduler.runSoon('hourly'); // before start: nothing
  scheduler.start();
  await new Promise((r) => setTimeout(r, 50));
  expect(runs).toBe(0);
  scheduler.runSoon('hourly');
  await expect.poll(() => runs, { timeout: 30_000, interval: 10 }).toBe(1);
  // Asked twice while the first run is in progress: one more run, never two at once.
  scheduler.runSoon('hourly');
  scheduler.runSoon('hourly');
  release();
  await expect.poll(() => runs, { timeout: 30_000, interval: 10 }).toBe(2);
  await new Promise((r) => setTimeout(r, 100));
  expect(runs).toBe(2); // then back to its hourly interval
  await scheduler.stop();
  scheduler.runSoon('hourly'); // after stop: nothing
  await new Promise((r) => setTimeout(r, 50));
  expect(runs).toBe(2);
});
