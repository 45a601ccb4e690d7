import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { UsageEvent } from './events.ts';
import { DEFAULT_USAGE_CONSUMER, type JetStreamOptions, resolveOptions } from './jetstream-options.ts';
import { connectNats } from './nats-connection.ts';
import { ensureUsageStream } from './usage-stream.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

const decoder = new TextDecoder();

/**
 * Writes one batch of stream messages and settles each: acked once `write` resolved, naked for
 * redelivery after a pause if it failed, terminated if it is not a JSON event. Tells JetStream the
 * batch is still being worked on while a slow write runs. Returns the events written.
 */
async function writeBatch(
  batch: JsMsg[],
  write: JetStreamConsumerOptions['write'],
  log: JetStreamConsumerOptions['log'],
): Promise<number> {
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
    if (events.length > 0) await write(events);
    for (const m of batch) m.ack();
    return events.length;
  } catch (error) {
    log?.error({ err: error, events: events.length }, 'usage stream: batch write failed; redelivering');
    for (const m of batch) m.nak(1_000);
    return 0;
  } finally {
    clearInterval(progress);
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
    flushing = writeBatch(batch, options.write, log).then((count) => {
      written += count;
    });
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
