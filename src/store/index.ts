import { join } from 'node:path';
import { openPGliteStore, StoreLockedError } from './pglite.ts';
import { openPostgresStore } from './postgres.ts';
import type { Store } from './store.ts';

export type { Change, ChangeFeed, ChangeTopic } from './changes.ts';
export { memoryChangeFeed } from './changes.ts';
export { type ExclusiveResult, type LeaderJob, runExclusive, scheduleExclusive } from './locks.ts';
export { listMigrations, migrate } from './migrate.ts';
export { type PgChangeFeed, pgChangeFeed } from './pg-changes.ts';
export type { BaseDatabase, Store } from './store.ts';
export { openPGliteStore, openPostgresStore, StoreLockedError };

/** `postgres://…` → PostgreSQL; otherwise an embedded PGlite store in `<dir>/db` (`:memory:` for tests). */
export async function openStore(database: string | undefined, dataDir = '.tollgate'): Promise<Store> {
  if (database?.startsWith('postgres://') || database?.startsWith('postgresql://')) {
    return openPostgresStore(database);
  }
  if (database === ':memory:') return openPGliteStore();
  return openPGliteStore(database ?? join(dataDir, 'db'));
}
