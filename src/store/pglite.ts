import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { processAlive } from '../util/process-alive.ts';
import { preparedTemplate, scratchCopy, templateKey } from './pglite-scratch.ts';
import { PGliteThread } from './pglite-thread.ts';
import type { BaseDatabase, Store } from './store.ts';

/**
 * PGlite has a single connection. Kysely asks for a connection per query (and holds one for a
 * transaction), so connections are handed out one at a time through a FIFO lock: a transaction
 * excludes other queries until it ends, exactly as a one-connection pool would.
 */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => {
      release = resolve;
    });
    const ready = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => next);
    return ready;
  }
}

class PGliteConnection implements DatabaseConnection {
  readonly #pg: PGliteThread;
  constructor(pg: PGliteThread) {
    this.#pg = pg;
  }
  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.#pg.query(compiled.sql, compiled.parameters);
    return {
      rows: result.rows as R[],
      numAffectedRows: result.affectedRows !== undefined ? BigInt(result.affectedRows) : undefined,
    };
  }
  // biome-ignore lint/correctness/useYield: PGlite has no server-side cursors; streaming is not supported.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not supported on the embedded store');
  }
}

class PGliteDriver implements Driver {
  readonly #pg: PGliteThread;
  readonly #lock: Mutex;
  readonly #connection: PGliteConnection;
  #release: (() => void) | null = null;

  constructor(pg: PGliteThread, lock: Mutex) {
    this.#pg = pg;
    this.#lock = lock;
    this.#connection = new PGliteConnection(pg);
  }
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    this.#release = await this.#lock.acquire();
    return this.#connection;
  }
  async beginTransaction(conn: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const level = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    await conn.executeQuery(CompiledQuery.raw(`begin${level}`));
  }
  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }
  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }
  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = null;
    release?.();
  }
  async destroy(): Promise<void> {
    await this.#pg.close();
  }
}

/** The embedded store is in use by another live process. */
export class StoreLockedError extends Error {
  readonly pid: number;
  constructor(dataDir: string, pid: number) {
    super(
      `The embedded store in ${dataDir} is in use by another Tollgate process (pid ${pid}). ` +
        'PGlite allows one process at a time: stop that process first, use the admin API of the running ' +
        'instance, or run every process against PostgreSQL (--database postgres://…).',
    );
    this.name = 'StoreLockedError';
    this.pid = pid;
  }
}

/**
 * Two processes writing one PGlite directory lose writes, so the directory carries a pid lock.
 * A lock left by a process that died (kill -9) is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'tollgate.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (owner && processAlive(owner)) throw new StoreLockedError(dataDir, owner);
      rmSync(file, { force: true });
    }
  }
  throw new Error(`cannot lock ${file}`);
}

/**
 * A throwaway store's own settings. Its database holds a test's or a benchmark's rows: PostgreSQL's
 * default 128 MB of shared buffers would only be memory to set up at every start, which took more
 * than half the time of opening a copy (6.9 s against 2.7 s with 16 MB, on a busy 2-core machine).
 */
const SCRATCH_SETTINGS = ['shared_buffers=16MB'];

/** An initialised, empty database: what a new data directory holds after initdb. */
function emptyTemplate(): Promise<string> {
  return preparedTemplate(templateKey('empty'), async (dir) => {
    await (await PGliteThread.open(dir)).close();
  });
}

export interface PGliteStoreOptions {
  /** For a throwaway store: the prepared data directory it starts as a copy of (pglite-scratch.ts). */
  template?: string;
}

/**
 * Opens (creating if needed) an embedded store in `dataDir`. Without one, the store is a
 * throwaway (tests, benchmarks): an empty database, or a copy of `options.template`, deleted when
 * the store closes. The database runs in a thread of its own (pglite-thread.ts).
 */
export async function openPGliteStore(dataDir?: string, options: PGliteStoreOptions = {}): Promise<Store> {
  let unlock = () => {};
  let settings: string[] = [];
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    unlock = lockDataDir(dataDir);
  } else {
    const scratch = scratchCopy(options.template ?? (await emptyTemplate()));
    dataDir = scratch.dir;
    unlock = scratch.remove;
    settings = SCRATCH_SETTINGS;
  }
  let pg: PGliteThread;
  try {
    pg = await PGliteThread.open(dataDir, settings);
  } catch (error) {
    unlock();
    throw error;
  }
  const lock = new Mutex();
  const db = new Kysely<BaseDatabase>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new PGliteDriver(pg, lock),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  const locked = async <T>(fn: () => Promise<T>): Promise<T> => {
    const release = await lock.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  };
  return {
    kind: 'pglite',
    db,
    query: (sql, params) => locked(async () => (await pg.query(sql, params ?? [])).rows as never),
    exec: (sql) =>
      locked(async () => {
        await pg.exec(sql);
      }),
    transaction: (fn) => db.transaction().execute(fn),
    close: async () => {
      await db.destroy();
      unlock();
    },
  };
}
