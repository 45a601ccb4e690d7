import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { BaseDatabase, Store } from './store.ts';

// int8 and numeric come back as strings by default; keep it that way for money (numeric),
// but counts (int8) are safe as numbers for our ranges.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export async function openPostgresStore(url: string, options: { max?: number } = {}): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10 });
  // An idle connection closed by the server (restart, failover, pg_terminate_backend) is dropped
  // and replaced by the pool on the next query; without a listener it would crash the process.
  pool.on('error', () => {});
  // Fail fast with a clear error instead of on the first request.
  const client = await pool.connect();
  client.release();
  const db = new Kysely<BaseDatabase>({ dialect: new PostgresDialect({ pool }) });
  return {
    kind: 'postgres',
    db,
    query: async (sql, params) => (await pool.query(sql, params ? [...params] : [])).rows as never,
    exec: async (sql) => {
      await pool.query(sql);
    },
    transaction: (fn) => db.transaction().execute(fn),
    close: () => db.destroy(),
  };
}
