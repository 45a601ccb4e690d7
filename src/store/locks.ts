import { sql } from 'kysely';
import type { Logger } from '../util/log.ts';
import type { Store } from './store.ts';

/**
 * Jobs that must not run on two processes at once (billing run, dunning, budget alerts) take a
 * PostgreSQL advisory lock. The lock is transaction-scoped (`pg_try_advisory_xact_lock`) and held
 * by one pooled connection for as long as the job runs, so it is released when the job ends,
 * throws, or its process dies (the server drops the session): no lock outlives its holder.
 *
 * The embedded store has a single process, so an in-process lock gives the same guarantee (and a
 * PGlite transaction would block the job's own queries: it has one connection).
 *
 * "Exclusive" means never concurrently, not exactly once: a job that runs on a schedule must
 * still be idempotent (e.g. the billing run skips periods already invoiced), because the next
 * holder will run it again.
 */
export type ExclusiveResult<T> = { ran: true; value: T } | { ran: false };

const localLocks = new Set<string>();

export async function runExclusive<T>(
  store: Store,
  name: string,
  fn: () => Promise<T>,
): Promise<ExclusiveResult<T>> {
  if (store.kind !== 'postgres') {
    const key = `${storeIdentity(store)}:${name}`;
    if (localLocks.has(key)) return { ran: false };
    localLocks.add(key);
    try {
      return { ran: true, value: await fn() };
    } finally {
      localLocks.delete(key);
    }
  }
  return store.transaction(async (tx) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_xact_lock(${LOCK_NAMESPACE}, hashtext(${name})) as locked`.execute(tx);
    if (!rows[0]?.locked) return { ran: false } as const;
    return { ran: true, value: await fn() } as const;
  });
}

/** First key of every Tollgate advisory lock, so they do not collide with the application's own. */
const LOCK_NAMESPACE = 0x7467; // "tg"

const storeIds = new WeakMap<Store, number>();
let nextStoreId = 1;
function storeIdentity(store: Store): number {
  let id = storeIds.get(store);
  if (id === undefined) {
    id = nextStoreId++;
    storeIds.set(store, id);
  }
  return id;
}

export interface LeaderJob {
  /** Stops scheduling; resolves once a run in progress has finished. */
  stop(): Promise<void>;
}

/**
 * Runs `fn` every `intervalMs` on whichever process gets the lock first (a simple leader
 * election: every worker tries, one wins each round, the others skip). If the leader dies, the
 * next round is taken by another worker.
 */
export function scheduleExclusive(
  store: Store,
  name: string,
  intervalMs: number,
  fn: () => Promise<void>,
  log?: Logger,
): LeaderJob {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  const tick = () => {
    timer = null;
    if (stopped) return;
    running = runExclusive(store, name, fn)
      .then((result) => {
        if (!result.ran) log?.debug({ job: name }, 'job is running elsewhere; skipped');
      })
      .catch((error: unknown) => log?.error({ err: error, job: name }, 'exclusive job failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, 0);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
