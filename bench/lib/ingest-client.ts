/**
 * The HTTP load generator of bench/ingest.ts, in a thread of its own so that building and
 * sending batches does not share the server's event loop (as wrk does for bench/gateway.ts).
 * Posts `total` events in batches of `batchSize` over `concurrency` connections, then reports.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Agent, request } from 'undici';
import { benchEvent } from './ingest-events.ts';

const { url, token, total, batchSize, concurrency, subjects, keys } = workerData as {
  url: string;
  token: string;
  total: number;
  batchSize: number;
  concurrency: number;
  subjects: number;
  keys: number;
};

const agent = new Agent({ connections: concurrency });
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const from = next;
      next += batchSize;
      const body = JSON.stringify(
        Array.from({ length: Math.min(batchSize, total - from) }, (_, i) =>
          benchEvent(from + i, 'bench-http', subjects, keys),
        ),
      );
      const res = await request(`${url}/api/v1/events`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/cloudevents-batch+json' },
        body,
      });
      await res.body.dump();
      if (res.statusCode !== 204) throw new Error(`ingest answered ${res.statusCode}`);
    }
  }),
);
await agent.close();
parentPort?.postMessage('done');
