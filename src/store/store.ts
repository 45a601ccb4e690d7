import type { Kysely } from 'kysely';

/**
 * The one source of truth. Embedded runs use PGlite (Postgres compiled to WASM, files under
 * `.tollgate/`); scale-out runs use PostgreSQL. Both speak the same SQL and run the same
 * migrations, so domain code never knows which one it has.
 *
 * Modules type their own tables: `store.db.withTables<MeteringTables>()`.
 */
// biome-ignore lint/complexity/noBannedTypes: the base schema is empty; each module adds its tables with withTables<T>().
export type BaseDatabase = {};

export interface Store {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Kysely<BaseDatabase>;
  /** Raw parameterised SQL ($1, $2 …) for hot paths and bulk statements. */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction; rolls back if it throws. */
  transaction<T>(fn: (tx: Kysely<BaseDatabase>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
