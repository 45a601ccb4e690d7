import { Gauge, type Registry } from 'prom-client';
import type { ResolvedConfig } from '../config/index.ts';
import type { UsageEvent, UsageLog } from '../metering/events.ts';
import {
  connectNats,
  DEFAULT_USAGE_CONSUMER,
  type JetStreamConsumer,
  type JetStreamUsageLog,
  openJetStreamUsageLog,
  startJetStreamConsumer,
  streamPressure,
  usageStreamLag,
  usageStreamStatus,
} from '../metering/jetstream.ts';
import { RedisCounterStore } from '../ratelimit/redis.ts';
import type { CounterStore } from '../ratelimit/types.ts';
import type { ChangeFeed } from '../store/changes.ts';
import { type PgChangeFeed, pgChangeFeed } from '../store/pg-changes.ts';
import type { Store } from '../store/store.ts';
import { parseByteSize } from '../util/bytes.ts';
import { isoDurationMs } from '../util/duration.ts';
import type { Logger } from '../util/log.ts';
import type { Role } from './roles.ts';
import { runsGateway, runsWorker } from './roles.ts';

/**
 * The scale-out backends, chosen at start-up from the connection options:
 * - `--redis`  → Redis CounterStore (rate limits and quotas shared by all gateway nodes);
 * - `--nats`   → JetStream UsageLog (gateway nodes publish) + durable consumer (worker role);
 * - a `postgres://` database → LISTEN/NOTIFY change feed (cache invalidation across nodes).
 * Each is absent when its option is, and the embedded backend is used instead.
 */
export interface ScaleOutOptions {
  config: ResolvedConfig;
  role: Role | 'cli';
  store: Store;
  database?: string;
  redis?: string;
  nats?: string;
  log: Logger;
}

export interface BackendStatus {
  ok: boolean;
  kind: string;
  detail?: string;
  /** Works now, but needs an operator's attention soon (e.g. the usage stream nears its size limit). */
  warning?: string;
}

/**
 * A backend given at start-up cannot be reached. Start-up stops at once with this one-line
 * message (the CLI prints it without a stack trace) and closes whatever it had opened, so no
 * listener is left half up.
 */
export class BackendUnavailableError extends Error {
  readonly backend: 'nats' | 'postgres-listen';
  constructor(backend: 'nats' | 'postgres-listen', url: string, reason: string) {
    super(
      `cannot reach ${backend === 'nats' ? 'NATS' : 'PostgreSQL (LISTEN)'} at ${redactUrl(url)}: ${reason}`,
    );
    this.name = 'BackendUnavailableError';
    this.backend = backend;
  }
}

export interface ScaleOutBackends {
  /** Set when `--redis` was given and this process runs the gateway. */
  readonly counters: RedisCounterStore | null;
  /** Set when `--nats` was given and this process runs the gateway. */
  readonly usageLog: JetStreamUsageLog | null;
  /** Set when the store is PostgreSQL. */
  readonly changes: PgChangeFeed | null;
  /**
   * Worker role with `--nats`: starts the durable consumer feeding metering's batch writer.
   * Returns null when the usage log is embedded (metering's own consumer runs instead).
   */
  startUsageConsumer(write: (events: UsageEvent[]) => Promise<void>): Promise<JetStreamConsumer | null>;
  /** The running consumer, if any (for tests and /metrics). */
  readonly usageConsumer: JetStreamConsumer | null;
  /** Events published but not yet written to the meters; null without NATS. */
  usageLag(): Promise<number | null>;
  /** One entry per backend for /readyz. */
  health(): Promise<Record<string, BackendStatus>>;
  /** Adds `tollgate_usage_stream_lag` (and backend-up gauges) to a Prometheus registry. */
  registerMetrics(registry: Registry): void;
  close(): Promise<void>;
}

const isPostgres = (url: string | undefined) => !!url && /^postgres(ql)?:\/\//.test(url);

/**
 * Over the 80-line rule, for now: a module factory that opens Redis, the JetStream usage log or
 * consumer and the PostgreSQL change feed in order, undoing what it opened if a later one fails,
 * and returns methods (`usageLag`, `health`, `registerMetrics`, `close`) that close over those
 * connections. The next split: the three openers as functions taking the `closing` list, and the
 * stream monitor as its own factory, after the shared types move to a file of their own.
 */
export async function openScaleOutBackends(options: ScaleOutOptions): Promise<ScaleOutBackends> {
  const { config, role, log } = options;
  const settings = config.scaleOut;
  const streamLimits = {
    maxBytes:
      settings.usageStreamLimits.maxBytes === undefined
        ? undefined
        : (parseByteSize(settings.usageStreamLimits.maxBytes) ?? undefined),
    maxAgeMs: isoDurationMs(settings.usageStreamLimits.maxAge) ?? undefined,
    discard: settings.usageStreamLimits.discard,
  };
  const closing: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const close of closing.reverse()) await close().catch(() => {});
  };

  try {
    let counters: RedisCounterStore | null = null;
    // Only processes that serve the gateway need counters and the usage stream; CLI commands
    // (keys, plans, usage import …) work without Redis and NATS.
    if (options.redis && runsGateway(role)) {
      counters = new RedisCounterStore({
        url: options.redis,
        prefix: settings.redisKeyPrefix,
        onRedisError: settings.onRedisError,
        commandTimeoutMs: settings.redisCommandTimeoutMs,
        log: log.child({ backend: 'redis' }),
      });
      const opened = counters;
      closing.push(() => opened.close());
      // Start-up waits a moment for Redis so a wrong URL is reported at once. It does not refuse
      // to start: with Redis down the node runs in the configured mode (open: local counters,
      // closed: 503) and /readyz says so, so a Redis outage does not also stop new nodes.
      await counters.ready(3_000).catch((error: Error) => {
        log.error(
          { err: error, mode: settings.onRedisError },
          `cannot reach Redis at ${redactUrl(options.redis as string)}; starting with onRedisError '${settings.onRedisError}'`,
        );
      });
    }

    let usageLog: JetStreamUsageLog | null = null;
    if (options.nats && runsGateway(role)) {
      const url = options.nats;
      usageLog = await openJetStreamUsageLog({
        url,
        stream: settings.usageStream,
        subject: settings.usageSubject,
        appendTimeoutMs: settings.usageAckTimeoutMs,
        ...streamLimits,
        name: `tollgate-${role}-${process.pid}`,
        log: log.child({ backend: 'nats' }),
      }).catch((error: Error) => {
        throw new BackendUnavailableError('nats', url, rootMessage(error));
      });
      const opened = usageLog;
      closing.push(() => opened.close());
    }

    let changes: PgChangeFeed | null = null;
    // The CLI role publishes too (`tollgate keys revoke` must reach every gateway node).
    if (isPostgres(options.database)) {
      changes = pgChangeFeed({
        url: options.database as string,
        channel: settings.changeChannel,
        log: log.child({ backend: 'changes' }),
      });
      const opened = changes;
      closing.push(() => opened.close());
      // The deadline is cleared once LISTEN works: a pending timer kept every CLI command on
      // PostgreSQL alive for 5 s after its output.
      let deadline: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          changes.ready(),
          new Promise((_, reject) => {
            deadline = setTimeout(
              () => reject(new Error('the change feed could not LISTEN within 5 s')),
              5_000,
            );
          }),
        ]);
      } finally {
        clearTimeout(deadline);
      }
    }

    let usageConsumer: JetStreamConsumer | null = null;
    // Processes without the consumer (console) read its lag through their own connection.
    let monitor: ReturnType<typeof connectNats> | null = null;
    const monitorConnection = () => {
      if (!monitor && options.nats) {
        monitor = connectNats(options.nats, `tollgate-monitor-${process.pid}`);
        const opened = monitor;
        // A failed first connect is retried on the next probe, not kept as a rejected promise.
        opened.catch(() => {
          if (monitor === opened) monitor = null;
        });
        closing.push(async () => {
          const nc = await opened.catch(() => null);
          await nc?.close();
        });
      }
      return monitor;
    };
    const lag = async (): Promise<number | null> => {
      if (usageConsumer) return usageConsumer.lag();
      const nc = await monitorConnection();
      if (!nc) return null;
      return usageStreamLag(nc, settings.usageStream, DEFAULT_USAGE_CONSUMER);
    };
    /** How full the usage stream is, with a warning past `warnAt` of the share at risk. */
    const streamStatus = async (): Promise<BackendStatus> => {
      const nc = await monitorConnection();
      if (!nc) return { ok: false, kind: 'jetstream-stream', detail: 'no NATS connection' };
      const status = await usageStreamStatus(nc, settings.usageStream, DEFAULT_USAGE_CONSUMER);
      const pressure = streamPressure(status);
      const percent = (pressure * 100).toFixed(1);
      const detail = `${status.messages} events, ${status.bytes} of ${status.maxBytes} bytes (discard ${status.discard}); ${percent}% of the limit at risk`;
      const warnAt = settings.usageStreamLimits.warnAt;
      return {
        ok: true,
        kind: 'jetstream-stream',
        detail,
        ...(pressure >= warnAt && {
          warning:
            status.discard === 'new'
              ? `the usage stream is ${percent}% full: at 100% NATS refuses usage events and gateways answer 503 (raise scaleOut.usageStreamLimits.maxBytes)`
              : `unmetered events fill ${percent}% of the usage stream: at 100% NATS drops them before they are metered (check the worker; raise scaleOut.usageStreamLimits.maxBytes)`,
        }),
      };
    };
    const backends: ScaleOutBackends = {
      counters,
      usageLog,
      changes,
      get usageConsumer() {
        return usageConsumer;
      },
      async startUsageConsumer(write) {
        if (!options.nats || !runsWorker(role)) return null;
        const url = options.nats;
        usageConsumer = await startJetStreamConsumer({
          url,
          stream: settings.usageStream,
          subject: settings.usageSubject,
          ...streamLimits,
          name: `tollgate-worker-${process.pid}`,
          write,
          log: log.child({ backend: 'nats-consumer' }),
        }).catch((error: Error) => {
          throw new BackendUnavailableError('nats', url, rootMessage(error));
        });
        const started = usageConsumer;
        closing.push(() => started.stop());
        return usageConsumer;
      },
      async health() {
        const result: Record<string, BackendStatus> = {};
        if (counters) {
          result.redis = {
            ok: counters.healthy,
            kind: 'redis',
            detail: counters.healthy ? undefined : `unreachable (fail ${counters.mode})`,
          };
        }
        if (usageLog) result.nats = { ok: usageLog.connected, kind: 'jetstream' };
        else if (options.nats && !usageConsumer) {
          // Console and CLI roles publish nothing, but read the stream (lag, size): report it too.
          const nc = await withTimeout(Promise.resolve(monitorConnection()), 1_000).catch(() => null);
          result.nats = nc
            ? { ok: !nc.isClosed(), kind: 'jetstream' }
            : { ok: false, kind: 'jetstream', detail: `unreachable at ${redactUrl(options.nats)}` };
        }
        if (options.nats) {
          result.usageStream = await withTimeout(streamStatus(), 1_000).catch((error: Error) => ({
            ok: false,
            kind: 'jetstream-stream',
            detail: `stream unreachable (${error.message})`,
          }));
        }
        if (usageConsumer) {
          const current = await withTimeout(usageConsumer.lag(), 1_000).catch(() => null);
          result.usageConsumer = {
            ok: current !== null,
            kind: 'jetstream-consumer',
            detail: current === null ? 'stream unreachable' : `lag ${current}`,
          };
        }
        if (changes) result.changeFeed = { ok: changes.listening, kind: 'postgres-listen' };
        return result;
      },
      usageLag: lag,
      registerMetrics(registry) {
        if (options.nats) {
          new Gauge({
            name: 'tollgate_usage_stream_lag',
            help: 'Usage events in the JetStream stream not yet written to the meters (pending + unacknowledged)',
            registers: [registry],
            async collect() {
              const current = await withTimeout(lag(), 1_000).catch(() => null);
              if (current !== null) this.set(current);
            },
          });
        }
        if (options.nats) {
          new Gauge({
            name: 'tollgate_usage_stream_pressure',
            help: 'Share (0-1) of the usage stream size limit at risk: unmetered events with discard old, the whole stream with discard new',
            registers: [registry],
            async collect() {
              const nc = await withTimeout(Promise.resolve(monitorConnection()), 1_000).catch(() => null);
              if (!nc) return;
              const status = await withTimeout(
                usageStreamStatus(nc, settings.usageStream, DEFAULT_USAGE_CONSUMER),
                1_000,
              ).catch(() => null);
              if (status) this.set(streamPressure(status));
            },
          });
        }
        new Gauge({
          name: 'tollgate_backend_up',
          help: 'Whether each scale-out backend answers (1) or not (0)',
          labelNames: ['backend'],
          registers: [registry],
          async collect() {
            for (const [name, status] of Object.entries(await backends.health())) {
              this.labels(name).set(status.ok ? 1 : 0);
            }
          },
        });
      },
      close: cleanup,
    };
    return backends;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The counter store to use: Redis when configured, else the embedded one. */
export function chooseCounters(backends: ScaleOutBackends, embedded: () => CounterStore): CounterStore {
  return backends.counters ?? embedded();
}

/** The usage log to use: JetStream when configured, else the embedded one. */
export function chooseUsageLog(backends: ScaleOutBackends, embedded: () => UsageLog): UsageLog {
  return backends.usageLog ?? embedded();
}

/** The change feed to use: LISTEN/NOTIFY on PostgreSQL, else in process. */
export function chooseChangeFeed(backends: ScaleOutBackends, embedded: () => ChangeFeed): ChangeFeed {
  return backends.changes ?? embedded();
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** The innermost message of an error chain (connect errors wrap the socket's reason). */
function rootMessage(error: Error): string {
  let current: unknown = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
