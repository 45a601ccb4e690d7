import type { Command } from 'commander';
import pc from 'picocolors';
import { createLogger } from '../util/log.ts';
import { isClusterWorker, runClusterPrimary } from './node-cluster.ts';
import { parseRole, type Role } from './roles.ts';

/**
 * `tollgate start` options for scale-out: `--role`, `--workers N` (node cluster mode, gateway
 * role) and `--health-port` (TOLLGATE_HEALTH_PORT). Bad values stop with a one-line message.
 */
export interface ScaleOutStart {
  role: Role;
  workers: number;
  healthPort: number | undefined;
}

export function scaleOutStartOptions(command: Command): ScaleOutStart {
  const opts = command.opts() as { role?: string; workers?: string; healthPort?: string };
  let role: Role;
  try {
    role = parseRole(opts.role);
  } catch (error) {
    command.error(`error: ${(error as Error).message}`);
  }
  const workers = opts.workers === undefined ? 1 : Number(opts.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    command.error(`error: --workers must be a whole number from 1 to 256 (got "${opts.workers}")`);
  }
  if (workers > 1 && role !== 'gateway') {
    command.error(
      'error: --workers runs several gateway processes on one port; use it with --role gateway (scale-out backends)',
    );
  }
  // A role on its own only makes sense on shared backends: the embedded store is one process's,
  // and a gateway's usage must reach the workers through the stream.
  const globals = command.optsWithGlobals() as { database?: string; nats?: string };
  if (role !== 'all' && !/^postgres(ql)?:\/\//.test(globals.database ?? '')) {
    command.error(
      `error: --role ${role} runs one part of Tollgate on shared backends; give --database postgres://… (or TOLLGATE_DATABASE_URL), or use --role all`,
    );
  }
  if (role === 'gateway' && !globals.nats) {
    command.error(
      'error: --role gateway needs --nats nats://… (or TOLLGATE_NATS_URL) so the workers receive its usage events; or use --role all',
    );
  }
  const rawHealth = opts.healthPort ?? process.env.TOLLGATE_HEALTH_PORT;
  const healthPort = rawHealth === undefined || rawHealth === '' ? undefined : Number(rawHealth);
  if (healthPort !== undefined && (!Number.isInteger(healthPort) || healthPort < 0 || healthPort > 65535)) {
    command.error(`error: --health-port must be a port number (got "${rawHealth}")`);
  }
  return { role, workers, healthPort };
}

/** Adds the scale-out options to `tollgate start`. */
export function addScaleOutOptions(command: Command): Command {
  return command
    .option('--workers <n>', 'gateway role: run N gateway processes sharing the port (node cluster)', '1')
    .option('--health-port <port>', '/healthz, /readyz and /metrics on this port (env TOLLGATE_HEALTH_PORT)');
}

/**
 * In the primary process of `--workers N`, forks the gateway workers and returns true once they
 * have stopped (SIGTERM/SIGINT); in a worker, or without --workers, returns false at once and
 * the caller starts Tollgate as usual.
 */
export async function runClusterIfAsked(start: ScaleOutStart): Promise<boolean> {
  if (start.workers <= 1 || isClusterWorker()) return false;
  const log = createLogger({ name: 'tollgate-cluster' });
  await runClusterPrimary({
    workers: start.workers,
    log,
    onListening: ({ port }) =>
      console.log(`  cluster   ${pc.cyan(`${start.workers} gateway workers`)} on port ${port}`),
  });
  return true;
}
