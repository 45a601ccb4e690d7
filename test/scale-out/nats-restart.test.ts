/**
 * NATS restart under load (a private nats-server with its own JetStream store, so the shared
 * one stays up for other tests): responses wait for their usage to be acknowledged, then
 * complete; nothing is lost or counted twice.
 */
import { describe, expect, it } from 'vitest';
import { clusterPerTest, load, provisionCustomer, reconcile } from './cluster.ts';
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
  }, 60_000);
});
