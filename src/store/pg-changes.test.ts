import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DATABASE_URL, servicesAvailable, uniqueName } from '../../test/scale-out/services.ts';
import type { Change } from './changes.ts';
import { type PgChangeFeed, pgChangeFeed } from './pg-changes.ts';

const available = await servicesAvailable('postgres');

function nextChange(feed: PgChangeFeed, match: (c: Change) => boolean, timeoutMs = 5000): Promise<Change> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('no change received'));
    }, timeoutMs);
    const off = feed.subscribe((change) => {
      if (!match(change)) return;
      clearTimeout(timer);
      off();
      resolve(change);
    });
  });
}

describe.skipIf(!available)('PostgreSQL change feed (LISTEN/NOTIFY)', () => {
  const channel = uniqueName('tg_changes').toLowerCase();
  const feeds: PgChangeFeed[] = [];
  const open = async () => {
    const feed = pgChangeFeed({ url: DATABASE_URL, channel, maxReconnectDelayMs: 200 });
    feeds.push(feed);
    await feed.ready();
    return feed;
  };
  afterAll(async () => {
    for (const feed of feeds) await feed.close();
  });

  it('delivers a change published on one node to every other node within 1 s', async () => {
    const [nodeA, nodeB, nodeC] = [await open(), await open(), await open()];
    const onB = nextChange(nodeB, (c) => c.id === 'key_revoked');
    const onC = nextChange(nodeC, (c) => c.id === 'key_revoked');
    const started = performance.now();
    await nodeA.publish({ topic: 'keys', id: 'key_revoked' });
    expect(await onB).toEqual({ topic: 'keys', id: 'key_revoked' });
    expect(await onC).toEqual({ topic: 'keys', id: 'key_revoked' });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('does not hear other channels', async () => {
    const other = pgChangeFeed({ url: DATABASE_URL, channel: `${channel}_other` });
    feeds.push(other);
    await other.ready();
    const listener = await open();
    const heard: Change[] = [];
    listener.subscribe((c) => heard.push(c));
    await other.publish({ topic: 'keys', id: 'elsewhere' });
    await listener.publish({ topic: 'keys', id: 'here' });
    await nextChange(listener, (c) => c.id === 'here').catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    expect(heard.map((c) => c.id)).not.toContain('elsewhere');
  });

  it('reconnects after its connection is killed and invalidates everything it may have missed', async () => {
    const publisher = await open();
    const listener = await open();
    const wildcard = nextChange(listener, (c) => c.topic === 'keys' && c.id === '*');
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      const { rowCount } = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where query = $1`,
        [`listen ${channel}`],
      );
      expect(rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    await wildcard;
    await listener.ready();
    // Delivery works again after the reconnect.
    const after = nextChange(listener, (c) => c.id === 'after_restart');
    await publisher.publish({ topic: 'subscriptions', id: 'after_restart' });
    expect(await after).toEqual({ topic: 'subscriptions', id: 'after_restart' });
  });
});
