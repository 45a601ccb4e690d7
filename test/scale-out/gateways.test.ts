/**
 * Two gateway processes sharing PostgreSQL, Redis and NATS: limits hold across nodes and a
 * revocation reaches every node within a second.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  createInstallation,
  type Installation,
  provisionCustomer,
  startProcess,
  type TollgateProcess,
  waitFor,
} from './cluster.ts';
import { servicesAvailable } from './services.ts';

const available = await servicesAvailable('postgres', 'redis', 'nats');

describe.skipIf(!available)('two gateway nodes', () => {
  let install: Installation;
  let nodeA: TollgateProcess;
  let nodeB: TollgateProcess;
  let worker: TollgateProcess;
  let consoleNode: TollgateProcess;

  beforeAll(async () => {
    // Counters must stay in Redis for 'exactly 100' to hold: on a busy machine a slow Redis
    // answer would otherwise count as Redis down and each node would fall back to its own.
    install = await createInstallation({ scaleOut: 'redisCommandTimeoutMs: 10_000,' });
    // One after the other: the first applies migrations and publishes the plans.
    nodeA = await startProcess(install, 'gateway', ['--health-port', '0']);
    nodeB = await startProcess(install, 'gateway');
    worker = await startProcess(install, 'worker', ['--health-port', '0']);
    consoleNode = await startProcess(install, 'console');
  }, 180_000);
  afterAll(async () => {
    for (const p of [nodeA, nodeB, worker, consoleNode]) await p?.stop();
    await install?.cleanup();
  });

  it('200 simultaneous requests split across both nodes against a quota of 100: exactly 100 succeed', async () => {
    const { key } = await provisionCustomer(install, 'quota');
    const urls = [nodeA.gatewayUrl as string, nodeB.gatewayUrl as string];
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, i) => call(urls[i % 2] as string, key)),
    );
    const statuses = outcomes.map((o) => o.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(100);
    const refused = outcomes.find((o) => o.status === 429);
    expect(JSON.parse(refused?.body ?? '{}')).toMatchObject({ status: 429 });
  });

  it('a global rate limit (50 per minute) holds across both nodes', async () => {
    const { key } = await provisionCustomer(install, 'limited');
    const urls = [nodeA.gatewayUrl as string, nodeB.gatewayUrl as string];
    const outcomes = await Promise.all(
      Array.from({ length: 120 }, (_, i) => call(urls[i % 2] as string, key)),
    );
    expect(outcomes.filter((o) => o.status === 200)).toHaveLength(50);
    expect(outcomes.filter((o) => o.status === 429)).toHaveLength(70);
  });

  it('a key revoked through one node is refused by the other within 1 s', async () => {
    const { key, keyId } = await provisionCustomer(install, 'open');
    // Both nodes have verified (and cached) the key.
    expect((await call(nodeA.gatewayUrl as string, key)).status).toBe(200);
    expect((await call(nodeB.gatewayUrl as string, key)).status).toBe(200);

    const { loadConfig } = await import('../../src/config/index.ts');
    const { startTollgate } = await import('../../src/app.ts');
    const admin = await startTollgate({
      config: await loadConfig(install.configFile),
      database: install.databaseUrl,
      role: 'cli',
    });
    try {
      await admin.keys.revoke(keyId);
      const revokedAt = performance.now();
      let refusedAfter = Number.POSITIVE_INFINITY;
      while (performance.now() - revokedAt < 3000) {
        const [a, b] = await Promise.all([
          call(nodeA.gatewayUrl as string, key),
          call(nodeB.gatewayUrl as string, key),
        ]);
        if (a.status === 401 && b.status === 401) {
          refusedAfter = performance.now() - revokedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(refusedAfter).toBeLessThan(1000);
    } finally {
      await admin.stop();
    }
  });

  it('reports each backend on /readyz and the usage stream lag on /metrics', async () => {
    const gatewayReady = await fetch(`${nodeA.healthUrl}/readyz`);
    expect(gatewayReady.status).toBe(200);
    expect(await gatewayReady.json()).toMatchObject({
      status: 'ready',
      role: 'gateway',
      backends: {
        store: { ok: true, kind: 'postgres' },
        redis: { ok: true },
        nats: { ok: true },
        changeFeed: { ok: true },
      },
    });
    const workerReady = await (await fetch(`${worker.healthUrl}/readyz`)).json();
    expect(workerReady).toMatchObject({ status: 'ready', backends: { usageConsumer: { ok: true } } });
    const consoleReady = await fetch(`${consoleNode.consoleUrl}/readyz`);
    expect(consoleReady.status).toBe(200);
    const metrics = await (await fetch(`${consoleNode.consoleUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tollgate_usage_stream_lag \d+$/m);
    expect(metrics).toMatch(/^tollgate_backend_up\{backend="changeFeed"\} 1$/m);
  });

  it('cluster mode: --workers 2 serves on one port and replaces a worker that dies', async () => {
    const childrenOf = (pid: number) => {
      try {
        return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
          .split('\n')
          .filter(Boolean);
      } catch {
        return [];
      }
    };
    const clustered = await startProcess(install, 'gateway', ['--workers', '2']);
    try {
      const primary = clustered.child.pid as number;
      const { key } = await provisionCustomer(install, 'open');
      const url = clustered.gatewayUrl as string;
      const before = await Promise.all(Array.from({ length: 20 }, () => call(url, key)));
      expect(before.every((o) => o.status === 200)).toBe(true);
      await waitFor(() => childrenOf(primary).length === 2, 60_000, 'two workers');
      const [victim] = childrenOf(primary);
      process.kill(Number(victim), 'SIGKILL');
      await waitFor(
        () => {
          const now = childrenOf(primary);
          return now.length === 2 && !now.includes(victim as string);
        },
        60_000,
        'a replacement worker',
      );
      // A fresh connection each time, so the answer is not pinned to one worker's keep-alive socket.
      let last: Awaited<ReturnType<typeof call>> | undefined;
      await waitFor(
        async () => {
          last = await call(url, key, '/v1/things', { connection: 'close' });
          return last.status === 200;
        },
        60_000,
        'the gateway to serve after a worker died',
      ).catch((error: Error) => {
        throw new Error(`${error.message}; last answer: ${last?.status} ${last?.body.slice(0, 300)}`);
      });
      const after = await Promise.all(Array.from({ length: 20 }, () => call(url, key)));
      expect(after.every((o) => o.status === 200)).toBe(true);
    } finally {
      await clustered.stop();
    }
    expect(clustered.child.exitCode).toBe(0);
  });

  it('survives PostgreSQL dropping every connection: nodes keep serving and the change feed resumes', async () => {
    const { key, keyId } = await provisionCustomer(install, 'open');
    const urls = [nodeA.gatewayUrl as string, nodeB.gatewayUrl as string];
    for (const url of urls) expect((await call(url, key)).status).toBe(200);
    // What a PostgreSQL restart or failover does to every client.
    const terminated = await install.sql(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [install.name],
    );
    expect(terminated.length).toBeGreaterThan(2);
    await waitFor(
      async () => (await Promise.all(urls.map((url) => call(url, key)))).every((o) => o.status === 200),
      10_000,
      'both nodes to serve again',
    );
    expect(nodeA.child.exitCode).toBeNull();
    expect(nodeB.child.exitCode).toBeNull();

    const { loadConfig } = await import('../../src/config/index.ts');
    const { startTollgate } = await import('../../src/app.ts');
    const admin = await startTollgate({
      config: await loadConfig(install.configFile),
      database: install.databaseUrl,
      role: 'cli',
    });
    try {
      // The LISTEN connections were dropped too; give them their (≤ 1 s) reconnect.
      await new Promise((r) => setTimeout(r, 1500));
      await admin.keys.revoke(keyId);
      await waitFor(
        async () => (await Promise.all(urls.map((url) => call(url, key)))).every((o) => o.status === 401),
        1_000,
        'the revocation to reach both nodes',
      );
    } finally {
      await admin.stop();
    }
  });
});
