/**
 * NATS restart under load (a private nats-server with its own JetStream store, so the shared
 * one stays up for other tests): responses wait for their usage to be acknowledged, then
 * complete; nothing is lost or counted twice.
 */
import { describe, expect, it } from 'vitest';
import { call, clusterPerTest, load, provisionCustomer, reconcile } from './cluster.ts';
import { servicesAvailable } from './services.ts';

const available = await servicesAvailable('postgres', 'redis', 'nats');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!available)('NATS restart under load', () => {
  const cluster = clusterPerTest();

  it('NATS restart: requests wait for the stream to be back, none fails, nothing is lost or doubled', async () => {
    const nats = await cluster.server('nats');
    const install = await cluster.install({ natsUrl: nats.url });
    const gateways = [await cluster.start('gateway'), await cluster.start('gateway')];
    await cluster.start('worker');
    const { key } = await provisionCustomer(install, 'open');
    const traffic = load(() => gateways.map((g) => g.gatewayUrl as string), key, 8);
    await sleep(500);
    await nats.kill();
    await sleep(700);
    await nats.start();
    await sleep(1500);
    const outcomes = await traffic.stop();
    expect(outcomes.filter((o) => !(o.status === 200 && o.complete))).toEqual([]);
    const result = await reconcile(install, outcomes);
    console.info('nats restart:', { ...result, missing: result.missing.length });
    expect(result.missing).toEqual([]);
    expect(result.metered).toBe(result.receivedInFull);
  }, 120_000);

  it('NATS down past the ack timeout: 503 problem (usage-not-recorded), and the quota is given back', async () => {
    // Issue 12 (scale-out): calls aborted because JetStream did not acknowledge their usage got a
    // connection reset and still used up quota (20 aborted, 0 metered, then 80 of 100 left).
    const nats = await cluster.server('nats');
    const install = await cluster.install({ natsUrl: nats.url, scaleOut: 'usageAckTimeoutMs: 1000,' });
    const gateway = await cluster.start('gateway');
    await cluster.start('worker');
    const { key } = await provisionCustomer(install, 'quota'); // 100 requests a month, hard
    const url = gateway.gatewayUrl as string;
    let served = 0;
    for (let i = 0; i < 10; i++) if ((await call(url, key)).status === 200) served++;
    expect(served).toBe(10);

    await nats.kill();
    const aborted = await Promise.all(Array.from({ length: 20 }, () => call(url, key)));
    expect(aborted.map((o) => o.status)).toEqual(Array(20).fill(503));
    expect(JSON.parse(aborted[0]?.body ?? '{}')).toMatchObject({
      status: 503,
      type: 'https://tollgate.dev/problems/usage-not-recorded',
    });
    await nats.start();

    // Every unit of quota the aborted calls took is back: exactly 100 calls are served in all.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const outcome = await call(url, key);
      if (outcome.status === 200) {
        served++;
        break;
      }
      expect(outcome.status).toBe(503);
    }
    const rest = await Promise.all(Array.from({ length: 120 }, () => call(url, key)));
    served += rest.filter((o) => o.status === 200).length;
    expect(served).toBe(100);
    expect(rest.filter((o) => o.status !== 200).every((o) => o.status === 429)).toBe(true);
  }, 180_000);
});
