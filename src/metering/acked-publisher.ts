import { createInbox, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';

/**
 * JetStream publish with acknowledgement, done on core NATS: the message carries a reply subject
 * under one inbox this process subscribes to, and JetStream answers there with its PubAck.
 * Same protocol as `js.publish`, but one subscription and one deadline sweep for all messages
 * instead of a request object and timer per message: ~7 µs of client CPU per event instead of
 * ~57 µs (measured with bench/cluster.ts), which is gateway CPU saved on every request.
 */
export class AckedPublisher {
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
