/**
 * The embedded database's own thread (see pglite-thread.ts). It opens PGlite and answers the
 * requests of the main thread one at a time, in arrival order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { type ThreadReply, type ThreadRequest, toWire } from './pglite-wire.ts';

const port = parentPort;
if (!port) throw new Error('pglite-worker.ts runs as a worker thread');

const { dataDir, settings } = workerData as { dataDir: string | undefined; settings: string[] };
// PGlite's own start parameters, then ours: a later `-c` for the same setting wins.
const startParams = [...PGlite.defaultStartParams, ...settings.flatMap((setting) => ['-c', setting])];

let pg: PGlite;
try {
  pg = await PGlite.create({ ...(dataDir ? { dataDir } : {}), startParams });
  port.postMessage({ id: 0, ok: true } satisfies ThreadReply);
} catch (error) {
  port.postMessage({ id: 0, ok: false, error: toWire.error(error) } satisfies ThreadReply);
  process.exit(1);
}

let queue: Promise<void> = Promise.resolve();

port.on('message', (request: ThreadRequest) => {
  queue = queue.then(() => answer(request));
});

async function answer(request: ThreadRequest): Promise<void> {
  try {
    if (request.op === 'query') {
      const result = await pg.query(request.sql, toWire.paramsIn(request.params));
      port?.postMessage({
        id: request.id,
        ok: true,
        rows: result.rows as Record<string, unknown>[],
        affectedRows: result.affectedRows,
      } satisfies ThreadReply);
    } else if (request.op === 'exec') {
      await pg.exec(request.sql);
      port?.postMessage({ id: request.id, ok: true } satisfies ThreadReply);
    } else {
      await pg.close();
      port?.postMessage({ id: request.id, ok: true } satisfies ThreadReply);
    }
  } catch (error) {
    port?.postMessage({ id: request.id, ok: false, error: toWire.error(error) } satisfies ThreadReply);
  }
}
