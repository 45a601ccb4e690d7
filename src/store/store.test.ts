import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestPostgres } from '../../test/support/postgres.ts';
import { listMigrations, migrate } from './migrate.ts';
import { openPGliteStore, StoreLockedError } from './pglite.ts';
import type { Store } from './store.ts';

describe.each([
  ['pglite', async () => ({ store: await openPGliteStore(), drop: async () => {} })],
  ['postgres', openTestPostgres],
] as const)('store on %s', (_kind, open) => {
  let handle: { store: Store; drop: () => Promise<void> };
  afterAll(async () => handle?.drop());

  it('applies every migration once, in order', async () => {
    handle = await open();
    const first = await migrate(handle.store);
    expect(first.applied).toEqual(listMigrations().map((m) => m.name));
    const second = await migrate(handle.store);
    expect(second.applied).toEqual([]);
  });

  it('rolls a failed transaction back', async () => {
    const { store } = handle;
    await expect(
      store.transaction(async (tx) => {
        await sql`insert into tollgate_settings (key, value) values ('rollback-me', '1')`.execute(tx);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const rows = await store.query('select key from tollgate_settings where key = $1', ['rollback-me']);
    expect(rows).toEqual([]);
  });

  it('serialises concurrent transactions without losing writes', async () => {
    const { store } = handle;
    await store.query(`insert into tollgate_settings (key, value) values ('counter', '0')`);
    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.transaction(async (tx) => {
          await sql`update tollgate_settings set value = to_jsonb((value::text)::int + 1) where key = 'counter'`.execute(
            tx,
          );
        }),
      ),
    );
    const [row] = await store.query<{ value: number }>(
      `select value from tollgate_settings where key = 'counter'`,
    );
    expect(row?.value).toBe(20);
  });
});

describe('migrations from several processes at once', () => {
  it('apply once on PostgreSQL while the other starters wait', async () => {
    const first = await openTestPostgres();
    try {
      // Three starters migrate the same schema concurrently, each on its own pooled connection.
      const results = await Promise.all([migrate(first.store), migrate(first.store), migrate(first.store)]);
      const appliedTotal = results.flatMap((r) => r.applied);
      expect(appliedTotal.sort()).toEqual(
        listMigrations()
          .map((m) => m.name)
          .sort(),
      );
      const rows = await first.store.query<{ n: number }>(
        'select count(*)::int as n from tollgate_migrations',
      );
      expect(rows[0]?.n).toBe(listMigrations().length);
    } finally {
      await first.drop();
    }
  });
});

describe('embedded store lock', () => {
  it('refuses a second opener of the same directory and takes over a dead process’s lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-lock-'));
    // A lock left by a process that no longer exists (e.g. killed with -9) is taken over.
    writeFileSync(join(dir, 'tollgate.pid'), '999999999');
    const store = await openPGliteStore(dir);
    try {
      await expect(openPGliteStore(dir)).rejects.toThrow(StoreLockedError);
      await expect(openPGliteStore(dir)).rejects.toThrow(/in use by another Tollgate process/);
    } finally {
      await store.close();
    }
    expect(existsSync(join(dir, 'tollgate.pid'))).toBe(false);
  });
});
