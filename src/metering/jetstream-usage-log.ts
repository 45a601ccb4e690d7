import { jetstreamManager } from '@nats-io/jetstream';
import { AckedPublisher } from './acked-publisher.ts';
import type { UsageEvent, UsageLog } from './events.ts';
import { type JetStreamOptions, resolveOptions } from './jetstream-options.ts';
import { connectNats } from './nats-connection.ts';
import { ensureUsageStream } from './usage-stream.ts';
import type { StreamSize } from './usage-stream-size.ts';

/**
 * The gateway's side of the usage stream: publishes each event with `Nats-Msg-Id: <source>/<id>`
 * and resolves `append` only after every event's PubAck (see jetstream.ts).
 */
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
