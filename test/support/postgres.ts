import { randomBytes } from 'node:crypto';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/store.ts';

export const PG_URL = process.env.TOLLGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema on the shared PostgreSQL, so parallel test files do not collide. */
export async function openTestPostgres(): Promise<{ store: Store; drop: () => Promise<void> }> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const store = await openPostgresStore(url.toString());
  return {
    store,
    drop: async () => {
      await store.close();
      const again = await openPostgresStore(PG_URL, { max: 1 });
      await again.exec(`drop schema ${schema} cascade`);
      await again.close();
    },
  };
}
