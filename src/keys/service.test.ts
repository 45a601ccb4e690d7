import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryChangeFeed, migrate, openPGliteStore, type Store } from '../store/index.ts';
import { ManualClock } from '../util/clock.ts';
import { hashKey } from './format.ts';
import { KeysService } from './service.ts';
import { CachedKeyVerifier } from './verifier.ts';

let store: Store;
const clock = new ManualClock('2026-03-01T00:00:00Z');
const changes = memoryChangeFeed();
let keys: KeysService;
let verifier: CachedKeyVerifier;

beforeAll(async () => {
  store = await openPGliteStore();
  await migrate(store);
  keys = new KeysService({
    store,
    changes,
    clock,
    config: { keys: { prefix: 'tg', rollGracePeriod: '1h' } },
  });
  verifier = new CachedKeyVerifier({ repo: keys.repo, changes, clock });
});
afterAll(async () => {
  await verifier.close();
  await store.close();
});

describe('KeysService', () => {
  it('creates a key, shows the secret once and stores only its hash', async () => {
    const { key, secret } = await keys.create({ customerId: 'cus_1', name: 'ci', metadata: { team: 'a' } });
    expect(secret.startsWith(key.prefix)).toBe(true);
    expect(key.status).toBe('active');
    const rows = await store.query<{ hash: string }>('select * from api_keys where id = $1', [key.id]);
    expect(rows[0]?.hash).toBe(hashKey(secret));
    expect(JSON.stringify(rows[0])).not.toContain(secret);
    expect(JSON.stringify(key)).not.toContain(secret.slice(12));
    const verified = await verifier.verify(secret);
    expect(verified).toMatchObject({ id: key.id, customerId: 'cus_1', metadata: { team: 'a' } });
    // second verification is a synchronous cache hit
    expect(verifier.verify(secret)).toMatchObject({ id: key.id });
  });

  it('lists keys of one customer only', async () => {
    await keys.create({ customerId: 'cus_list' });
    clock.advance(1000);
    await keys.create({ customerId: 'cus_list', name: 'second' });
    await keys.create({ customerId: 'cus_other' });
    const list = await keys.list('cus_list');
    expect(list.map((k) => k.name)).toEqual(['', 'second']);
  });

  it('refuses bad input and changes nothing', async () => {
    await expect(keys.create({ customerId: '' })).rejects.toMatchObject({ status: 400 });
    await expect(keys.create({ customerId: 'c', expiresAt: new Date('2020-01-01') })).rejects.toMatchObject({
      status: 400,
    });
    await expect(keys.revoke('key_missing')).rejects.toMatchObject({ status: 404 });
    expect(await keys.list('c')).toEqual([]);
  });

  it('revokes: the cached key stops working at once', async () => {
    const { key, secret } = await keys.create({ customerId: 'cus_2' });
    expect(await verifier.verify(secret)).not.toBeNull();
    expect(verifier.verify(secret)).not.toBeNull();
    const revoked = await keys.revoke(key.id);
    expect(revoked.status).toBe('revoked');
    expect(await verifier.verify(secret)).toBeNull();
  });

  it('rolls: the old key works for the grace period, the new one at once', async () => {
    const { key, secret } = await keys.create({ customerId: 'cus_3', name: 'prod' });
    expect(await verifier.verify(secret)).not.toBeNull();
    const rolled = await keys.roll(key.id);
    expect(rolled.key.name).toBe('prod');
    expect(rolled.previous.rolledTo).toBe(rolled.key.id);
    expect(await verifier.verify(secret)).not.toBeNull();
    expect(await verifier.verify(rolled.secret)).toMatchObject({ id: rolled.key.id, customerId: 'cus_3' });
    clock.advance(3600_000 + 1);
    expect(await verifier.verify(secret)).toBeNull();
    expect(await verifier.verify(rolled.secret)).not.toBeNull();
    expect((await keys.get(key.id)).status).toBe('expired');
  });

  it('expires a key now', async () => {
    const { key, secret } = await keys.create({ customerId: 'cus_4' });
    expect(await verifier.verify(secret)).not.toBeNull();
    await keys.expire(key.id);
    expect(await verifier.verify(secret)).toBeNull();
  });

  it('rejects typos without a lookup and unknown keys', async () => {
    const { secret } = await keys.create({ customerId: 'cus_5' });
    // The last character changed (to one it is not): the checksum fails, answered synchronously.
    expect(verifier.verify(`${secret.slice(0, -1)}${secret.endsWith('x') ? 'y' : 'x'}`)).toBeNull();
    expect(await verifier.verify('tg_live_nope')).toBeNull();
  });

  it('records last_used_at in batches', async () => {
    const { key, secret } = await keys.create({ customerId: 'cus_6' });
    await verifier.verify(secret);
    expect((await keys.get(key.id)).lastUsedAt).toBeNull();
    await verifier.flushUsage();
    expect((await keys.get(key.id)).lastUsedAt?.toISOString()).toBe(clock.now().toISOString());
  });
});
