/**
 * Redis restarts under load (a private redis-server on its own port, so the shared one stays up
 * for other tests). What clients see matches the mode documented in deploy/README.md
 * (`scaleOut.onRedisError`), and no usage is lost.
 */
import { describe, expect, it } from 'vitest';
import { clusterPerTest, load, provisionCustomer, reconcile } from './cluster.ts';
import { servicesAvailable } from './services.ts';

const available = await servicesAvailable('postgres', 'redis', 'nats');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!available)('Redis restart under load', () => {
  const cluster = clusterPerTest();

  it('Redis restart, fail open: clients see no error, nothing is lost', async () => {
    const redis = await cluster.server('redis');
    const install = await cluster.install({ redisUrl: redis.url, scaleOut: "onRedisError: 'open'," });
    const gateways = [await cluster.start('gateway'), await cluster.start('gateway')];
    await cluster.start('worker');
    const { key } = await provisionCustomer(install, 'open');
    const traffic = load(() => gateways.map((g) => g.gatewayUrl as string), key, 8);
    await sleep(500);
    await redis.kill();
    await sleep(700);
    await redis.start();
    await sleep(700);
    const outcomes = await traffic.stop();
    const statuses = new Set(outcomes.map((o) => o.status));
    expect([...statuses]).toEqual([200]);
    const result = await reconcile(install, outcomes);
    console.info('redis restart (open):', { ...result, missing: result.missing.length });
    expect(result.missing).toEqual([]);
    expect(result.metered).toBe(result.receivedInFull);
  }, 60_000);

  it('Redis restart, fail closed: 503 problem while Redis is down, service resumes, nothing is lost', async () => {
    const redis = await cluster.server('redis');
    const install = await cluster.install({ redisUrl: redis.url, scaleOut: "onRedisError: 'closed'," });
    const gateways = [await cluster.start('gateway')];
    await cluster.start('worker');
    const { key } = await provisionCustomer(install, 'open');
    const traffic = load(() => gateways.map((g) => g.gatewayUrl as string), key, 8);
    await sleep(500);
    await redis.kill();
    await sleep(700);
    const during = traffic.outcomes.length;
    await redis.start();
    await sleep(1000);
    const outcomes = await traffic.stop();
    const refused = outcomes.filter((o) => o.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    const problem = JSON.parse(refused[0]?.body ?? '{}');
    expect(problem).toMatchObject({
      status: 503,
      type: 'https://tollgate.dev/problems/counters-unavailable',
    });
    expect(outcomes.every((o) => o.status === 200 || o.status === 503)).toBe(true);
    // Served again after the restart.
    expect(outcomes.slice(during).some((o) => o.status === 200)).toBe(true);
    expect(outcomes.slice(-8).every((o) => o.status === 200)).toBe(true);
    const result = await reconcile(install, outcomes);
    console.info('redis restart (closed):', {
      ...result,
      missing: result.missing.length,
      refused: refused.length,
    });
    expect(result.missing).toEqual([]);
    expect(result.metered).toBe(result.receivedInFull);
  }, 60_000);
});
