import { runExclusive } from '../store/locks.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../util/log.ts';

/**
 * The one place Tollgate's timer loops run (billing run, dunning, webhook delivery, budget and
 * usage-threshold checks). Each job says how often it runs and whether it must run on one worker
 * only when scaled out; the scheduler makes every job behave the same way under failure:
 *
 * - runs never overlap: the next run is timed from the end of the previous one;
 * - an exclusive job takes a PostgreSQL advisory lock (`runExclusive`), so with several workers
 *   one runs it each round and the others skip; the embedded store has one process;
 * - a job that throws is logged with its name and retried after a backoff that doubles up to
 *   `maxBackoffMs`, then returns to its interval after the next success. A failing job never
 *   stops the others or the process (issue 12: background work contains its own failures);
 * - timers are unref'd, so a CLI command that built the modules exits when its work is done.
 */
export interface Job {
  name: string;
  everyMs: number;
  /** One process at a time when several share the PostgreSQL store. */
  exclusive?: boolean;
  run(): Promise<unknown>;
}

export interface JobStatus {
  name: string;
  runs: number;
  failures: number;
  /** Consecutive failures; 0 after a success. */
  failing: number;
  lastError: string | null;
}

export interface Scheduler {
  /** Registers a job; it first runs one interval after `start` (or at once, `runAtStart`). */
  add(job: Job & { runAtStart?: boolean }): void;
  start(): void;
  status(): JobStatus[];
  /** Stops scheduling and waits for runs in progress. */
  stop(): Promise<void>;
}

export interface SchedulerOptions {
  store: Store;
  log: Logger;
  maxBackoffMs?: number;
}

interface Entry {
  job: Job & { runAtStart?: boolean };
  status: JobStatus;
  timer: NodeJS.Timeout | null;
  running: Promise<void> | null;
}

export function createScheduler(options: SchedulerOptions): Scheduler {
  const { store, log } = options;
  const maxBackoffMs = options.maxBackoffMs ?? 5 * 60_000;
  const entries: Entry[] = [];
  let started = false;
  let stopped = false;

  const delayAfter = (entry: Entry) => {
    const { everyMs } = entry.job;
    if (entry.status.failing === 0) return everyMs;
    return Math.min(Math.max(everyMs, maxBackoffMs), everyMs * 2 ** entry.status.failing);
  };

  const arm = (entry: Entry, delay: number) => {
    if (stopped) return;
    entry.timer = setTimeout(() => tick(entry), delay);
    entry.timer.unref();
  };

  const runOnce = async (entry: Entry) => {
    const { job, status } = entry;
    try {
      if (job.exclusive) {
        const result = await runExclusive(store, job.name, job.run);
        if (!result.ran) log.debug({ job: job.name }, 'job is running elsewhere; skipped');
      } else {
        await job.run();
      }
      status.runs++;
      status.failing = 0;
    } catch (error) {
      status.runs++;
      status.failures++;
      status.failing++;
      status.lastError = error instanceof Error ? error.message : String(error);
      log.error(
        { err: error, job: job.name, failing: status.failing },
        `job ${job.name} failed; retrying later`,
      );
    }
  };

  const tick = (entry: Entry) => {
    entry.timer = null;
    if (stopped) return;
    entry.running = runOnce(entry).finally(() => {
      entry.running = null;
      arm(entry, delayAfter(entry));
    });
  };

  return {
    add(job) {
      if (entries.some((e) => e.job.name === job.name))
        throw new Error(`job "${job.name}" is already scheduled`);
      if (!(job.everyMs > 0)) throw new Error(`job "${job.name}": everyMs must be positive`);
      const entry: Entry = {
        job,
        status: { name: job.name, runs: 0, failures: 0, failing: 0, lastError: null },
        timer: null,
        running: null,
      };
      entries.push(entry);
      if (started) arm(entry, job.runAtStart ? 0 : job.everyMs);
    },
    start() {
      if (started) return;
      started = true;
      for (const entry of entries) arm(entry, entry.job.runAtStart ? 0 : entry.job.everyMs);
    },
    status: () => entries.map((e) => ({ ...e.status })),
    async stop() {
      stopped = true;
      for (const entry of entries) if (entry.timer) clearTimeout(entry.timer);
      await Promise.all(entries.map((e) => e.running));
    },
  };
}
