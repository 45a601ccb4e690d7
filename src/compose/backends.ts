import { join, resolve } from 'node:path';
import { resolveAdminToken } from '../admin/auth.ts';
import { openScaleOutBackends, type ScaleOutBackends } from '../cluster/backends.ts';
import type { ResolvedConfig } from '../config/index.ts';
import { type ConfigSource, liveConfig } from '../config/live.ts';
import { MemoryCounterStore } from '../ratelimit/memory.ts';
import type { CounterStore } from '../ratelimit/types.ts';
import { type ChangeFeed, memoryChangeFeed, migrate, openStore, type Store } from '../store/index.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { createLogger, type Logger } from '../util/log.ts';
import type { StopList } from './stop-list.ts';

export type StartRole = 'all' | 'gateway' | 'worker' | 'console' | 'cli';

export interface BackendOptions {
  config: ResolvedConfig;
  database?: string;
  dataDir?: string;
  redis?: string;
  nats?: string;
  role?: StartRole;
  clock?: Clock;
  log?: Logger;
  /**
   * `tollgate dev`: development conveniences (http webhooks, subscribers follow plan edits, the
   * portal's dev mailbox). Default: on when a config file is watched (`tollgate dev`, `npm start`);
   * `tollgate start` never has them.
   */
  dev?: boolean;
}

/** Phase 1: what every module stands on. Nothing here knows about a domain module. */
export interface Backends {
  readonly role: StartRole;
  /** The config in force; `tollgate dev` replaces it (see config/live.ts). */
  readonly config: ConfigSource;
  readonly store: Store;
  readonly changes: ChangeFeed;
  readonly counters: CounterStore;
  readonly scaleOut: ScaleOutBackends;
  readonly clock: Clock;
  readonly log: Logger;
  readonly dataDir: string;
  readonly adminToken: string;
  /** Whether usage goes through NATS JetStream rather than the embedded log. */
  readonly natsUsage: boolean;
  /** Scale-out Redis, when given: console nodes share login attempt counts there. */
  readonly redisUrl: string | null;
  /** Started by `tollgate dev`. */
  readonly dev: boolean;
}

export async function openBackends(options: BackendOptions, stopping: StopList): Promise<Backends> {
  const { config } = options;
  const role = options.role ?? 'all';
  const log = options.log ?? createLogger();
  const dataDir = resolve(options.dataDir ?? join(config.baseDir, '.tollgate'));

  const store = await openStore(options.database, dataDir);
  stopping.push(() => store.close());
  await migrate(store);
  // Scale-out backends (Redis counters, JetStream usage log, LISTEN/NOTIFY change feed), each
  // only when its URL was given; the embedded backend otherwise (see src/cluster/backends.ts).
  const scaleOut = await openScaleOutBackends({
    config,
    role,
    store,
    database: options.database,
    redis: options.redis,
    nats: options.nats,
    log,
  });
  stopping.push(() => scaleOut.close());
  const changes = scaleOut.changes ?? memoryChangeFeed();
  stopping.push(() => changes.close());
  const counters: CounterStore = scaleOut.counters ?? new MemoryCounterStore();
  stopping.push(() => counters.close());

  return {
    role,
    config: liveConfig(config),
    store,
    changes,
    counters,
    scaleOut,
    clock: options.clock ?? systemClock,
    log,
    dataDir,
    adminToken: resolveAdminToken(config, dataDir),
    natsUsage: !!options.nats,
    redisUrl: options.redis ?? null,
    dev: options.dev ?? false,
  };
}
