import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, createInbox, headers, type Msg, type NatsConnection, nanos } from '@nats-io/transport-node';
import type { Logger } from '../util/log.ts';
import type { UsageEvent, UsageLog } from './events.ts';
import { ensureUsageStream, type Resolved } from './usage-stream.ts';
import type { StreamSize } from './usage-stream-size.ts';

/**
 * Scale-out UsageLog: a NATS JetStream stream.
 *
 * Gateway nodes publish each event with `Nats-Msg-Id: <source>/<id>`; the server drops a second
 * copy seen within the duplicate window, so a retried publish (after a timeout, a reconnect, a
 * restarted node replaying) never stores an event twice. `append` resolves only after every
 * event's PubAck, i.e. once the event is in the stream's file storage: the gateway finishes the
 * client's response after that, so a response received in full is never missing from metering.
 *
 * Worker processes read the stream with one durable pull consumer (shared: several workers split
 * the messages), hand batches to metering's idempotent batch writer and ack after it committed.
 * A crash between commit and ack redelivers the batch; the writer's (source, id) dedupe drops it.
 */
export const DEFAULT_USAGE_STREAM = 'TOLLGATE_USAGE';
export const DEFAULT_USAGE_SUBJECT = 'tollgate.usage';
export const DEFAULT_USAGE_CONSUMER = 'tollgate-metering';

export interface JetStreamOptions {
  /** nats://host:port (comma-separated for a cluster). */
  url: string;
  /** Stream name; tests use their own so they can run in parallel. */
  stream?: string;
  /** Subjects are `<subject>.<event type>`; the stream captures `<subject>.>`. */
  subject?: string;
  /** Server-side dedupe window for message ids. Default 10 minutes. */
  duplicateWindowMs?: number;
  /** How long events stay in the stream (replay window). Default 7 days. */
  maxAgeMs?: number;
  /**
   * Largest size of the stream on the server's disk (per replica). Unset: chosen to fit the
   * JetStream store (`usage-stream-size.ts`). The stream is a buffer in front of metering, not
   * the record: see deploy/README.md for the disk budget.
   */
  maxBytes?: number;
  /**
   * What the server does at `maxBytes`: 'old' drops the oldest events (already metered unless the
   * worker is that far behind); 'new' refuses new ones (gateways answer 503). Default 'old'.
   */
  discard?: 'old' | 'new';
  /** Connection name shown by the server (`nats server report connections`). */
  name?: string;
  log?: Logger;
}

export interface JetStreamUsageLogOptions extends JetStreamOptions {
  /**
   * How long `append` keeps retrying (same message ids, so no duplicates) while the server is
   * unreachable or restarting, before it fails. Default 15 s.
   */
  appendTimeoutMs?: number;
}

export interface JetStreamUsageLog extends UsageLog {
  readonly connected: boolean;
  /** The usage stream's size limit and where it comes from (printed at start-up). */
  readonly streamSize: StreamSize;
  /** Messages in the stream (for /metrics and tests). */
  streamInfo(): Promise<{ messages: number; lastSeq: number }>;
}

function resolveOptions(options: JetStreamOptions): Resolved {
  const stream = options.stream ?? DEFAULT_USAGE_STREAM;
  const subject = options.subject ?? DEFAULT_USAGE_SUBJECT;
  if (!/^[A-Za-z0-9_-]+$/.test(stream)) throw new Error(`stream name "${stream}" may use A-Z a-z 0-9 _ -`);
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subject)) {
    throw new Error(`usage subject "${subject}" must be dot-separated tokens such as "tollgate.usage"`);
  }
  return {
    stream,
    subject,
    duplicateWindowMs: options.duplicateWindowMs ?? 10 * 60_000,
    maxAgeMs: options.maxAgeMs ?? 7 * 24 * 3_600_000,
    maxBytes: options.maxBytes ?? null,
    discard: options.discard ?? 'old',
  };
}

/**
 * `nats://user:password@host` or `nats://token@host`: the client library does not read
 * credentials from a server URL (the server answered "Authorization Violation"), so they are
 * taken out and passed as options, and never appear in an error message.
 */
function natsServers(url: string): {
  servers: string[];
  auth: { user?: string; pass?: string; token?: string };
} {
  const auth: { user?: string; pass?: string; token?: string } = {};
  const servers = url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((server) => {
      const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(server);
      if (m === null) return server;
      const [userinfo = '', rest = ''] = [m[2], m[3]];
      const colon = userinfo.indexOf(':');
      if (colon >= 0) {
        auth.user = decodeURIComponent(userinfo.slice(0, colon));
        auth.pass = decodeURIComponent(userinfo.slice(colon + 1));
      } else {
        auth.token = decodeURIComponent(userinfo);
      }
      return `${m[1]}${rest}`;
    });
  return { servers, auth };
}

export async function connectNats(url: string, name: string, log?: Logger): Promise<NatsConnection> {
  const { servers, auth } = natsServers(url);
  try {
    const nc = await connect({
      servers,
      ...auth,
      name,
      // Keep reconnecting forever: a NATS restart must not need a Tollgate restart.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 50,
      pingInterval: 5_000,
      timeout: 5_000,
    });
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') log?.warn({ server: status.server }, 'nats: disconnected');
        else if (status.type === 'reconnect') log?.info({ server: status.server }, 'nats: reconnected');
      }
    })().catch(() => {});
    return nc;
  } catch (error) {
    throw new Error(`cannot connect to NATS at ${servers.join(',')}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** How full the usage stream is, for /readyz and /metrics (see `streamPressure`). */
export interface UsageStreamStatus {
  bytes: number;
  messages: number;
  maxBytes: number;
  discard: 'old' | 'new';
  /** Events not yet written to the meters (consumer pending + unacknowledged); null without a consumer. */
  unconsumed: number | null;
}

export async function usageStreamStatus(
  nc: NatsConnection,
  stream = DEFAULT_USAGE_STREAM,
  durable = DEFAULT_USAGE_CONSUMER,
): Promise<UsageStreamStatus> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const consumer = await jsm.consumers.info(stream, durable).catch(() => null);
  return {
    bytes: info.state.bytes,
    messages: info.state.messages,
    maxBytes: info.config.max_bytes,
    discard: info.config.discard === DiscardPolicy.New ? 'new' : 'old',
    unconsumed: consumer ? consumer.num_pending + consumer.num_ack_pending : null,
  };
}

/**
 * The share of the size limit that is at risk, 0–1: with discard 'new' the whole stream counts
 * (at 1 the server refuses events and gateways answer 503); with 'old' only what the worker has
 * not metered yet counts (at 1 the server drops events before they are metered). Unconsumed
 * bytes are estimated from the average event size. An unlimited stream (max_bytes -1) is 0.
 */
export function streamPressure(status: UsageStreamStatus): number {
  if (status.maxBytes <= 0) return 0;
  if (status.discard === 'new') return status.bytes / status.maxBytes;
  const perEvent = status.messages > 0 ? status.bytes / status.messages : 0;
  return ((status.unconsumed ?? 0) * perEvent) / status.maxBytes;
}

/**
 * JetStream publish with acknowledgement, done on core NATS: the message carries a reply subject
 * under one inbox this process subscribes to, and JetStream answers there with its PubAck.
 * Same protocol as `js.publish`, but one subscription and one deadline sweep for all messages
 * instead of a request object and timer per message: ~7 µs of client CPU per event instead of
 * ~57 µs (measured with bench/cluster.ts), which is gateway CPU saved on every request.
 */
class AckedPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix = createInbox();
  readonly #pending = new Map<
    string,
    { resolve: () => void; reject: (error: Error) => void; deadline: number }
  >();
  readonly #sweeper: NodeJS.Timeout;
  readonly #decoder = new TextDecoder();
  #next = 0;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    nc.subscribe(`${this.#prefix}.*`, { callback: (_error, msg) => this.#answer(msg) });
    this.#sweeper = setInterval(() => {
      const now = Date.now();
      for (const [token, entry] of this.#pending) {
        if (entry.deadline > now) continue;
        this.#pending.delete(token);
        entry.reject(new Error('timed out waiting for the JetStream acknowledgement'));
      }
    }, 50);
    this.#sweeper.unref();
    // A publish in flight when the connection drops may never be answered: retry it at once
    // (same message id) instead of waiting for its deadline.
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') this.#failAll('connection to NATS lost');
      }
    })().catch(() => {});
  }

  #failAll(reason: string): void {
    const entries = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of entries) entry.reject(new Error(reason));
  }

  publish(subject: string, payload: Uint8Array, msgID: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const token = (this.#next++).toString(36);
      this.#pending.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
      const h = headers();
      h.set('Nats-Msg-Id', msgID);
      try {
        this.#nc.publish(subject, payload, { reply: `${this.#prefix}.${token}`, headers: h });
      } catch (error) {
        this.#pending.delete(token);
        reject(error as Error);
      }
    });
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#failAll('usage log closed');
  }

  #answer(msg: Msg): void {
    const token = msg.subject.slice(this.#prefix.length + 1);
    const entry = this.#pending.get(token);
    if (!entry) return;
    this.#pending.delete(token);
    if (msg.headers?.hasError) {
      // 503: no stream listens on the subject (yet), e.g. while the server restarts.
      entry.reject(new Error(`JetStream answered ${msg.headers.code}: ${msg.headers.description}`));
      return;
    }
    try {
      const ack = JSON.parse(this.#decoder.decode(msg.data)) as { error?: { description?: string } };
      if (ack.error) entry.reject(new Error(`JetStream refused the event: ${ack.error.description}`));
      else entry.resolve();
    } catch {
      entry.reject(new Error('JetStream answered with something that is not a PubAck'));
    }
  }
}

const subjectToken = (type: string) => type.replace(/[^A-Za-z0-9_-]/g, '_') || '_';

/** The message id JetStream dedupes on: the same (source, id) pair metering dedupes on. */
export const usageMessageId = (event: UsageEvent) => `${event.source}/${event.id}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function openJetStreamUsageLog(options: JetStreamUsageLogOptions): Promise<JetStreamUsageLog> {
  const resolved = resolveOptions(options);
  const appendTimeoutMs = options.appendTimeoutMs ?? 15_000;
  const nc = await connectNats(options.url, options.name ?? 'tollgate-gateway', options.log);
  const jsm = await jetstreamManager(nc);
  const streamSize = await ensureUsageStream(jsm, resolved, options.log);
  const publisher = new AckedPublisher(nc);
  const encoder = new TextEncoder();

  const publishOne = async (event: UsageEvent) => {
    const subject = `${resolved.subject}.${subjectToken(event.type)}`;
    const payload = encoder.encode(JSON.stringify(event));
    const msgID = usageMessageId(event);
    const deadline = Date.now() + appendTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const remaining = Math.max(250, deadline - Date.now());
        await publisher.publish(subject, payload, msgID, Math.min(5_000, remaining));
        return;
      } catch (error) {
        // Same msgID on every attempt: if an earlier attempt was stored and only its ack was lost,
        // the server answers "duplicate" and the event is still stored once.
        if (Date.now() >= deadline || nc.isClosed()) {
          throw new Error(
            `usage event ${msgID} was not acknowledged by JetStream: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        }
        await sleep(Math.min(500, 25 * 2 ** attempt));
      }
    }
  };

  return {
    get connected() {
      return !nc.isClosed() && !nc.isDraining() && nc.info !== undefined;
    },
    streamSize,
    async append(events) {
      if (events.length === 1) return publishOne(events[0] as UsageEvent);
      await Promise.all(events.map(publishOne));
    },
    async streamInfo() {
      const info = await jsm.streams.info(resolved.stream);
      return { messages: info.state.messages, lastSeq: info.state.last_seq };
    },
    async close() {
      publisher.close();
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}

/** Writes a batch of events idempotently (dedupe on source + id) and resolves after commit. */
export type UsageBatchWriter = (events: UsageEvent[]) => Promise<void>;

export interface JetStreamConsumerOptions extends JetStreamOptions {
  /** Durable consumer name, shared by all workers. */
  durable?: string;
  write: UsageBatchWriter;
  /** Events per write. Default 500. */
  batchSize?: number;
  /** Longest wait before a partial batch is written (ms). Default 20. */
  maxDelayMs?: number;
}

export interface JetStreamConsumer {
  /** Events in the stream not yet written by metering (pending + delivered but not acked). */
  lag(): Promise<number>;
  /** Events written so far by this process. */
  readonly written: number;
  stop(): Promise<void>;
}

/**
 * How long a delivered message may stay unacknowledged before JetStream gives it to another
 * worker: the recovery time after a worker crash. Slow writes send progress (`working()`) so
 * they are not redelivered while still running.
 */
export const USAGE_ACK_WAIT_MS = 5_000;

export async function ensureUsageConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  subject: string,
): Promise<void> {
  try {
    const info = await jsm.consumers.info(stream, durable);
    if (info.config.ack_wait !== nanos(USAGE_ACK_WAIT_MS)) {
      await jsm.consumers.update(stream, durable, { ack_wait: nanos(USAGE_ACK_WAIT_MS) });
    }
    return;
  } catch (error) {
    if (!/not found/i.test((error as Error).message)) throw error;
  }
  try {
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${subject}.>`,
      ack_wait: nanos(USAGE_ACK_WAIT_MS),
      max_ack_pending: 20_000,
      max_deliver: -1,
    });
  } catch (error) {
    if (!/already in use|exists/i.test((error as Error).message)) throw error;
  }
}

/**
 * Streams usage events from JetStream into metering. Messages are buffered and flushed as one
 * batch (up to `batchSize`, or after `maxDelayMs`), one flush at a time; each batch is acked only
 * after `write` resolved. A failed write naks the batch so it is redelivered after a pause.
 */
export async function startJetStreamConsumer(options: JetStreamConsumerOptions): Promise<JetStreamConsumer> {
  const resolved = resolveOptions(options);
  const durable = options.durable ?? DEFAULT_USAGE_CONSUMER;
  const batchSize = options.batchSize ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 20;
  const log = options.log;
  const nc = await connectNats(options.url, options.name ?? 'tollgate-worker', log);
  const jsm = await jetstreamManager(nc);
  await ensureUsageStream(jsm, resolved, log);
  await ensureUsageConsumer(jsm, resolved.stream, durable, resolved.subject);
  const js = jetstream(nc);
  const decoder = new TextDecoder();

  let stopped = false;
  let written = 0;
  let pending: JsMsg[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;
  let messages: ConsumerMessages | null = null;

  const flush = async (): Promise<void> => {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (flushing || pending.length === 0) return;
    const batch = pending.splice(0, batchSize);
    flushing = (async () => {
      const events: UsageEvent[] = [];
      for (const m of batch) {
        try {
          events.push(JSON.parse(decoder.decode(m.data)) as UsageEvent);
        } catch {
          log?.error({ seq: m.seq }, 'usage stream: message is not a JSON event; dropped');
          m.term();
        }
      }
      const progress = setInterval(() => {
        for (const m of batch) m.working();
      }, USAGE_ACK_WAIT_MS / 2);
      try {
        if (events.length > 0) await options.write(events);
        for (const m of batch) m.ack();
        written += events.length;
      } catch (error) {
        log?.error({ err: error, events: events.length }, 'usage stream: batch write failed; redelivering');
        for (const m of batch) m.nak(1_000);
      } finally {
        clearInterval(progress);
      }
    })();
    await flushing;
    flushing = null;
    if (pending.length >= batchSize) await flush();
    else if (pending.length > 0 && !timer) timer = setTimeout(() => void flush(), maxDelayMs);
  };

  const run = async () => {
    while (!stopped) {
      try {
        const consumer = await js.consumers.get(resolved.stream, durable);
        messages = await consumer.consume({ max_messages: batchSize * 2 });
        for await (const m of messages) {
          pending.push(m);
          if (pending.length >= batchSize) void flush();
          else if (!timer) timer = setTimeout(() => void flush(), maxDelayMs);
        }
      } catch (error) {
        if (stopped) return;
        log?.warn({ err: error }, 'usage stream: consumer interrupted; resuming');
        await sleep(500);
      }
    }
  };
  const loop = run();

  return {
    get written() {
      return written;
    },
    async lag() {
      const info = await jsm.consumers.info(resolved.stream, durable);
      return info.num_pending + info.num_ack_pending;
    },
    async stop() {
      stopped = true;
      messages?.stop();
      await loop.catch(() => {});
      // Write what was already received, so a clean stop leaves nothing to redeliver.
      while (pending.length > 0 || flushing) {
        if (flushing) await flushing;
        else await flush();
      }
      pending = [];
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}

/** Lag of the usage consumer, read from any process (the console serves it on /metrics). */
export async function usageStreamLag(
  nc: NatsConnection,
  stream = DEFAULT_USAGE_STREAM,
  durable = DEFAULT_USAGE_CONSUMER,
): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.consumers.info(stream, durable);
  return info.num_pending + info.num_ack_pending;
}
