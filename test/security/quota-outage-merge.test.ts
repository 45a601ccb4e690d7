import { connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { call, clusterPerTest, provisionCustomer, waitFor } from '../scale-out/cluster.ts';
import { freePort, servicesAvailable } from '../scale-out/services.ts';

/**
 * Fail-open quotas across an outage of Redis. Each gateway counts locally while Redis is
 * unreachable; on recovery the counts were merged by taking the largest (raise to at least the
 * local count), so two gateways let twice the quota through an outage. Each gateway now adds
 * what it counted, once: after the outage the stored count is the sum, and the customer gets
 * exactly the rest of its quota.
 */
const available = await servicesAvailable('postgres', 'redis', 'nats');

/** A TCP proxy in front of Redis that can be cut (Redis unreachable, its data kept) and restored. */
async function cuttableProxy(targetPort: number) {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        sockets.add(client);
        sockets.add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        for (const socket of [client, upstream]) {
          socket.on('error', drop);
          socket.on('close', drop);
        }
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
      server = s;
    });
  await open();
  return {
    url: `redis://127.0.0.1:${port}`,
    async cut() {
      const s = server as Server | null;
      server = null;
      const closed = new Promise((r) => s?.close(r));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
    restore: open,
    async close() {
      if (server !== null) await this.cut();
    },
  };
}

describe.skipIf(!available)('fail-open quotas across a Redis outage', () => {
  const cluster = clusterPerTest();

  it('two gateways count locally while Redis is unreachable; afterwards the stored count is the sum', async () => {
    const redis = await cluster.server('redis');
    const proxy = await cuttableProxy(redis.port);
    const direct = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const install = await cluster.install({ redisUrl: proxy.url, scaleOut: "onRedisError: 'open'," });
      // No metering worker: the meter stays at 0, as when the worker is behind.
      const gateways = [await cluster.start('gateway'), await cluster.start('gateway')];
      const urls = gateways.map((g) => g.gatewayUrl as string);
      const { key } = await provisionCustomer(install, 'quota'); // 100 requests, hard
      const stored = async () => {
        const keys = await direct.keys(`${install.name}:q:*`);
        return keys.length === 1
          ? Number(await direct.get(keys[0] as string))
          : keys.length === 0
            ? 0
            : Number.NaN;
      };

      for (let i = 0; i < 10; i++) expect((await call(urls[i % 2] as string, key)).status).toBe(200);
      expect(await stored()).toBe(10);

      await proxy.cut();
      for (const url of urls) {
        for (let i = 0; i < 20; i++) {
          const outcome = await call(url, key);
          expect(outcome.status, outcome.body).toBe(200);
        }
      }
      expect(await stored()).toBe(10); // Redis saw none of them

      await proxy.restore();
      // Merged by the largest local count this was 30: one gateway's 20 calls were forgotten.
      await waitFor(async () => (await stored()) >= 50, 60_000, 'both gateways to merge their counts');
      // Both merges done; a late or repeated merge would go past 50.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await stored()).toBe(50);

      const after = [];
      for (let i = 0; i < 60; i++) after.push((await call(urls[i % 2] as string, key)).status);
      expect(after.filter((s) => s === 200)).toHaveLength(50);
      expect(after.slice(50)).toEqual(Array(10).fill(429));
      expect(await stored()).toBe(100);
    } finally {
      direct.disconnect();
      await proxy.close();
    }
  }, 240_000);
});
