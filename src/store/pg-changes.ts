import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../util/log.ts';
import type { Change, ChangeFeed, ChangeTopic } from './changes.ts';

/**
 * Change feed over PostgreSQL LISTEN/NOTIFY, for scale-out: every gateway node holds one
 * listening connection, so a key revoked through one node reaches the caches of all the others
 * in the time of one NOTIFY (milliseconds).
 *
 * NOTIFY is not durable: while the listening connection is down, notifications are missed. So
 * after every (re)connect the feed tells its subscribers that everything may have changed
 * (`{ topic, id: '*' }` for every topic) and caches start cold instead of stale.
 */
export interface PgChangeFeedOptions {
  /** PostgreSQL connection string. */
  url: string;
  /** NOTIFY channel; tests use their own so they can run in parallel. */
  channel?: string;
  log?: Logger;
  /** Longest wait between reconnect attempts (ms). Default 1000, so a restart costs ~1 s. */
  maxReconnectDelayMs?: number;
}

export const DEFAULT_CHANGE_CHANNEL = 'tollgate_changes';
const ALL_TOPICS: readonly ChangeTopic[] = [
  'keys',
  'subscriptions',
  'catalog',
  'customers',
  'credits',
  'meters',
];

export interface PgChangeFeed extends ChangeFeed {
  /** True while the listening connection is up (for /readyz). */
  readonly listening: boolean;
  /** Resolves once the first LISTEN has succeeded. */
  ready(): Promise<void>;
}

function parseChange(payload: string | undefined): Change | null {
  if (!payload) return null;
  try {
    const value = JSON.parse(payload) as Partial<Change>;
    if (typeof value.topic !== 'string' || typeof value.id !== 'string') return null;
    return { topic: value.topic as ChangeTopic, id: value.id };
  } catch {
    return null;
  }
}

/** The NOTIFY channel; it is spliced into `listen <channel>`, so only a plain identifier passes. */
function checkedChannel(options: PgChangeFeedOptions): string {
  const channel = options.channel ?? DEFAULT_CHANGE_CHANNEL;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) {
    throw new Error(`change feed channel "${channel}" must be a lowercase SQL identifier`);
  }
  return channel;
}

/** Ends a connection that is no longer wanted; errors it raises while closing are ignored. */
function endQuietly(client: pg.Client): Promise<void> {
  client.removeAllListeners();
  client.on('error', () => {});
  return client.end().catch(() => {});
}

/** Hands the changes NOTIFYed on `channel` to the emitter's subscribers. */
function forwardNotifications(client: pg.Client, channel: string, emitter: EventEmitter): void {
  client.on('notification', (message) => {
    if (message.channel !== channel) return;
    const change = parseChange(message.payload);
    if (change) emitter.emit('change', change);
  });
}

// A module factory: the listening connection's state is shared by connect, publish and close;
// the 80-line rule applies to the functions inside.
export function pgChangeFeed(options: PgChangeFeedOptions): PgChangeFeed {
  const channel = checkedChannel(options);
  const maxDelay = options.maxReconnectDelayMs ?? 1000;
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  // Publishing goes through a small pool so a NOTIFY never waits behind the listener.
  const pool = new pg.Pool({ connectionString: options.url, max: 2 });
  pool.on('error', (error) => options.log?.warn({ err: error }, 'change feed: idle connection error'));

  let client: pg.Client | null = null;
  let closed = false;
  let listening = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | null = null;
  let resolveReady!: () => void;
  const readyPromise = new Promise<void>((r) => {
    resolveReady = r;
  });

  const scheduleReconnect = () => {
    if (closed || timer) return;
    const delay = Math.min(maxDelay, 50 * 2 ** attempt);
    attempt++;
    timer = setTimeout(() => {
      timer = null;
      void connect();
    }, delay);
  };

  const connect = async () => {
    if (closed) return;
    const next = new pg.Client({ connectionString: options.url });
    const lost = (error?: Error) => {
      if (client !== next) return;
      client = null;
      if (listening) options.log?.warn({ err: error }, 'change feed: connection lost, reconnecting');
      listening = false;
      void endQuietly(next);
      scheduleReconnect();
    };
    client = next;
    next.on('error', lost);
    next.on('end', () => lost());
    forwardNotifications(next, channel, emitter);
    try {
      await next.connect();
      await next.query(`listen ${channel}`);
      if (client !== next || closed) return;
      const reconnected = attempt > 0 || listening;
      listening = true;
      attempt = 0;
      resolveReady();
      // Anything published while we were not listening is lost: invalidate everything.
      if (reconnected) for (const topic of ALL_TOPICS) emitter.emit('change', { topic, id: '*' });
    } catch (error) {
      lost(error as Error);
    }
  };
  void connect();

  return {
    get listening() {
      return listening;
    },
    ready: () => readyPromise,
    async publish(change) {
      await pool.query('select pg_notify($1, $2)', [channel, JSON.stringify(change)]);
    },
    subscribe(listener) {
      emitter.on('change', listener);
      return () => emitter.off('change', listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      const current = client;
      client = null;
      listening = false;
      emitter.removeAllListeners();
      if (current) await endQuietly(current);
      await pool.end();
    },
  };
}
