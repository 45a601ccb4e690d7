import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../util/log.ts';

/**
 * Node cluster mode for the gateway role (`tollgate start --role gateway --workers N`): the
 * primary process forks N workers that share the gateway's listening socket (the kernel spreads
 * connections between them), restarts a worker that dies, and stops them all on SIGTERM/SIGINT.
 * Each worker is a complete stateless gateway node with its own connections to PostgreSQL,
 * Redis and NATS; nothing is shared between them but those backends.
 */
export interface ClusterOptions {
  workers: number;
  log: Logger;
  /** Called once per worker's listening socket (the primary sees the address). */
  onListening?: (address: { address: string; port: number }) => void;
}

export const isClusterWorker = () => cluster.isWorker;

/** Set by the primary on workers started after the first: the gateway port they must listen on. */
export const CLUSTER_PORT_ENV = 'TOLLGATE_CLUSTER_GATEWAY_PORT';

/** In a cluster worker started after the first, the port the first one got; otherwise undefined. */
export function clusterGatewayPort(): number | undefined {
  const raw = cluster.isWorker ? process.env[CLUSTER_PORT_ENV] : undefined;
  return raw ? Number(raw) : undefined;
}

export function runClusterPrimary(options: ClusterOptions): Promise<void> {
  const { workers, log } = options;
  let stopping = false;
  let listeningReported = false;
  const restarts: number[] = [];

  // The port the first worker got. Later workers and replacements listen on exactly that port:
  // with port 0 (any free port) a worker started after every listening worker had died would
  // otherwise open a new random port, and clients of the old one would be refused for good.
  let port: number | null = null;
  const fork = () => {
    const env: Record<string, string> = { TOLLGATE_CLUSTER_WORKER: '1' };
    if (port !== null) env[CLUSTER_PORT_ENV] = String(port);
    const worker = cluster.fork(env);
    worker.once('listening', (address) => {
      if (!listeningReported && typeof address.port === 'number') {
        listeningReported = true;
        port = address.port;
        options.onListening?.({ address: address.address ?? '127.0.0.1', port: address.port });
        // The rest start once the port is known (see above).
        for (let i = 1; i < workers; i++) fork();
      }
    });
    return worker;
  };

  cluster.on('exit', (worker: Worker, code, signal) => {
    if (stopping) return;
    log.error({ pid: worker.process.pid, code, signal }, 'gateway worker died; starting another');
    // Back off if workers die in a loop (bad config, backend down at start).
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && (restarts[0] as number) < now - 10_000) restarts.shift();
    setTimeout(fork, restarts.length > workers * 2 ? 2_000 : 0);
  });

  fork();

  return new Promise((resolve) => {
    const shutdown = () => {
      if (stopping) return;
      stopping = true;
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
      if (alive.length === 0) return resolve();
      let remaining = alive.length;
      const force = setTimeout(() => {
        for (const w of alive) if (!w.isDead()) w.process.kill('SIGKILL');
      }, 10_000);
      for (const w of alive) {
        w.once('exit', () => {
          remaining--;
          if (remaining === 0) {
            clearTimeout(force);
            resolve();
          }
        });
        w.process.kill('SIGTERM');
      }
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
}
