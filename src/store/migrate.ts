import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Store } from './store.ts';

/**
 * Plain SQL migrations in `src/store/migrations/NNNN_name.sql`, applied in file-name order, each
 * in its own transaction, recorded in `tollgate_migrations`. The same files run on PGlite and on
 * PostgreSQL. Number ranges per module keep files from colliding, in dependency order: 00xx store,
 * 01xx catalog, 02xx customers+subscriptions, 03xx keys, 04xx metering, 05xx billing, 06xx portal, 07xx notify.
 */
const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const LOCK_ID = 7_316_001; // pg_advisory_lock key: one migrator at a time across processes

export interface MigrationResult {
  applied: string[];
  alreadyApplied: number;
}

export function listMigrations(): { name: string; sql: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((name) => ({ name, sql: readFileSync(MIGRATIONS_DIR + name, 'utf8') }));
}

/** Runs statements on one connection: the session-level advisory lock must be taken and released there. */
type Session = { exec(sql: string): Promise<void>; names(): Promise<Set<string>> };

async function applyPending(session: Session): Promise<MigrationResult> {
  await session.exec(
    'create table if not exists tollgate_migrations (name text primary key, applied_at timestamptz not null default now())',
  );
  const done = await session.names();
  const applied: string[] = [];
  for (const migration of listMigrations()) {
    if (done.has(migration.name)) continue;
    await session.exec(
      `begin;\n${migration.sql}\n;insert into tollgate_migrations (name) values ('${migration.name}');\ncommit;`,
    );
    applied.push(migration.name);
  }
  return { applied, alreadyApplied: done.size };
}

export async function migrate(store: Store): Promise<MigrationResult> {
  if (store.kind !== 'postgres') {
    // PGlite is one process and one connection: nothing else can migrate at the same time.
    return applyPending({
      exec: (text) => store.exec(text),
      names: async () =>
        new Set(
          (await store.query<{ name: string }>('select name from tollgate_migrations')).map((r) => r.name),
        ),
    });
  }
  // Several processes may start at once: one migrates, the others wait and then find nothing to do.
  return store.db.connection().execute(async (conn) => {
    const run = (text: string) => sql.raw(text).execute(conn);
    await run(`select pg_advisory_lock(${LOCK_ID})`);
    try {
      return await applyPending({
        exec: async (text) => {
          await run(text);
        },
        names: async () =>
          new Set(
            ((await run('select name from tollgate_migrations')).rows as { name: string }[]).map(
              (r) => r.name,
            ),
          ),
      });
    } finally {
      await run(`select pg_advisory_unlock(${LOCK_ID})`);
    }
  });
}
