import { describe, expect, it } from 'vitest';
import { clusterPerTest, startProcess, waitFor } from '../scale-out/cluster.ts';
import { servicesAvailable } from '../scale-out/services.ts';
import { HttpPortalClient } from './portal-http.ts';

/**
 * Login throttling across console nodes. Each node counted attempts in process, so 12 wrong
 * passwords spread over two consoles gave 10 × 401 (5 per node) against a limit of 5. With
 * scale-out Redis the nodes share the counts: at most 5 × 401 in all, the rest 429.
 */
const available = await servicesAvailable('postgres', 'redis', 'nats');

describe.skipIf(!available)('login throttle across console nodes', () => {
  const cluster = clusterPerTest();

  it('12 wrong logins spread over two consoles on one Redis: at most 5 × 401, the rest 429', async () => {
    const install = await cluster.install();
    const nodes = [await startProcess(install, 'console'), await startProcess(install, 'console')];
    try {
      const urls = nodes.map((n) => n.consoleUrl as string);
      const email = `owner-${Date.now()}@example.com`;
      // `tollgate start` without SMTP keeps mail in the store (notify_mailbox; no dev mailbox): the link is read there.
      const owner = new HttpPortalClient(urls[0] as string);
      await owner.get('/api/portal/config');
      const password = 'correct horse battery';
      expect((await owner.post('/api/portal/signup', { email, name: 'Owner', password })).status).toBe(202);
      let token: string | undefined;
      await waitFor(
        async () => {
          const rows = await install.sql<{ text_body: string }>(
            'select text_body from notify_mailbox where to_address = $1',
            [email],
          );
          token = rows.map((r) => /\/verify\?token=([\w-]+)/.exec(r.text_body)?.[1]).find(Boolean);
          return token !== undefined;
        },
        60_000,
        'the confirmation mail',
      );
      expect((await owner.post('/api/portal/verify', { token })).status).toBe(200);

      const clients = urls.map((url) => new HttpPortalClient(url));
      for (const client of clients) await client.get('/api/portal/config');
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const client = clients[i % 2] as HttpPortalClient;
        const r = await client.post('/api/portal/login', { email, password: `wrong password number ${i}` });
        statuses.push(r.status);
        if (r.status === 429) {
          expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
          expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
        }
      }
      expect(statuses.filter((s) => s === 401)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(7);
      expect(statuses.slice(5)).toEqual(Array(7).fill(429));

      // The right password on the other node is throttled too: the account's window is full.
      const right = await clients[1]?.post('/api/portal/login', { email, password: 'correct horse battery' });
      expect(right?.status).toBe(429);
    } finally {
      for (const node of nodes) await node.kill();
    }
  }, 240_000);
});
