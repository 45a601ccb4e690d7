import { Worker } from 'node:worker_threads';
import { fromWireError, type ThreadReply, type ThreadRequest, toWire } from './pglite-wire.ts';

/**
 * The embedded database in a thread of its own. PGlite is Postgres compiled to WASM: every
 * statement runs synchronously on the thread that owns it. On the main thread, a metering batch
 * or a billing run would hold the event loop for tens of milliseconds, and the gateway's requests
 * would wait behind it. In its own thread the database works on the second core while the main
 * thread parses requests, extracts meter values and prepares the next batch.
 *
 * Requests are answered in order, one at a time, like statements on one connection. The thread
 * keeps the process alive only while a request is in flight, as a socket would.
 */
export interface QueryAnswer {
  rows: Record<string, unknown>[];
  affectedRows?: number;
}

// The worker's file has this module's extension: `.ts` run from the repository's source, `.js`
// in the published package (compiled into dist/); tsc rewrites imports but not URLs.
const WORKER_FILE = new URL(
  `./pglite-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);

const exited = (code: number) => new Error(`the embedded database thread exited (code ${code})`);

export class PGliteThread {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve: (reply: ThreadReply) => void; reject: (e: Error) => void }
  >();
  #next = 1;
  #dead: Error | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: ThreadReply) => {
      const waiting = this.#pending.get(reply.id);
      if (!waiting) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      waiting.resolve(reply);
    });
    const fail = (error: Error) => {
      this.#dead = error;
      for (const waiting of this.#pending.values()) waiting.reject(error);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(exited(code)));
  }

  /** `settings`: server settings for this database (`name=value`, as `postgres -c`). */
  static async open(dataDir: string | undefined, settings: string[] = []): Promise<PGliteThread> {
    const worker = new Worker(WORKER_FILE, { workerData: { dataDir, settings } });
    const ready = await new Promise<ThreadReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(exited(code)));
    });
    if (!ready.ok) {
      await worker.terminate();
      throw fromWireError(ready.error);
    }
    worker.unref();
    return new PGliteThread(worker);
  }

  #send(request: (id: number) => ThreadRequest): Promise<ThreadReply> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise<ThreadReply>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage(request(id));
    }).then((reply) => {
      if (!reply.ok) throw fromWireError(reply.error);
      return reply;
    });
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<QueryAnswer> {
    const reply = (await this.#send((id) => ({
      id,
      op: 'query',
      sql,
      params: toWire.paramsOut(params),
    }))) as {
      rows?: Record<string, unknown>[];
      affectedRows?: number;
    };
    return { rows: reply.rows ?? [], affectedRows: reply.affectedRows };
  }

  async exec(sql: string): Promise<void> {
    await this.#send((id) => ({ id, op: 'exec', sql }));
  }

  async close(): Promise<void> {
    if (!this.#dead) await this.#send((id) => ({ id, op: 'close' }));
    await this.#worker.terminate();
  }
}
