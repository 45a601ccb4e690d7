import { join } from 'node:path';
import { listMigrations, migrate } from './migrate.ts';
import { openPGliteStore, StoreLockedError } from './pglite.ts';
import { preparedTemplate, templateKey } from './pglite-scratch.ts';
import { openPostgresStore } from './postgres.ts';
import type { Store } from './store.ts';

export type { Change, ChangeFeed, ChangeTopic } from './changes.ts';
export { memoryChangeFeed } from './changes.ts';
export { type ExclusiveResult, type LeaderJob, runExclusive, scheduleExclusive } from './locks.ts';
export { listMigrations, migrate } from './migrate.ts';
export { type PgChangeFeed, pgChangeFeed } from './pg-changes.ts';
export type { BaseDatabase, Store } from './store.ts';
export { openPGliteStore, openPostgresStore, StoreLockedError };

/**
 * A migrated, empty database, named by the migrations it holds: a throwaway store copied from it
 * finds nothing left to migrate instead of running every migration again (pglite-scratch.ts).
 */
function migratedTemplate(): Promise<string> {
  const key = templateKey('migrated', ...listMigrations().flatMap((m) => [m.name, m.sql]));
  return preparedTemplate(key, async (dir) => {
    const store = await openPGliteStore(dir);
    try {
      await migrate(store);
    } finally {
      await store.close();
    }
  });
}

/**
 * `postgres://…` → PostgreSQL; `:memory:` → a throwaway embedded store, already migrated (tests,
 * benchmarks); otherwise an embedded PGlite store in `<dir>/db`.
 */
export async function openStore(database: string | undefined, dataDir = '.tollgate'): Promise<Store> {
  if (database?.startsWith('postgres://') || database?.startsWith('postgresql://')) {
    return openPostgresStore(database);
  }
  if (database === ':memory:') return openPGliteStore(undefined, { template: await migratedTemplate() });
  return openPGliteStore(database ?? join(dataDir, 'db'));
}
