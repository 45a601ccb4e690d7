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
 * - timers are unref'd, so a CLI command that built the modules exits when its work is done;
 * - `runSoon` brings a job's next run forward (webhook delivery right after an event is written),
 *   still never overlapping: during a run, it asks for one more run right after it.
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
  /**
   * Runs a job within `delayMs` instead of at its next interval (once more right after the run in
   * progress, if one is). Does nothing before `start`, after `stop`, for an unknown job, or for a
   * failing one (its backoff holds).
   */
  runSoon(name: string, delayMs?: number): void;
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
  /** When the armed timer fires (epoch ms). */
  dueAt: number;
  running: Promise<void> | null;
  /** `runSoon` was called during the run in progress. */
  again: boolean;
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
    entry.dueAt = Date.now() + delay;
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
    entry.again = false;
    entry.running = runOnce(entry).finally(() => {
      entry.running = null;
      // Asked for during the run: once more now, unless the run failed (then the backoff holds).
      arm(entry, entry.again && entry.status.failing === 0 ? 0 : delayAfter(entry));
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
        dueAt: 0,
        running: null,
        again: false,
      };
      entries.push(entry);
      if (started) arm(entry, job.runAtStart ? 0 : job.everyMs);
    },
    start() {
      if (started) return;
      started = true;
      for (const entry of entries) arm(entry, entry.job.runAtStart ? 0 : entry.job.everyMs);
    },
    runSoon(name, delayMs = 0) {
      const entry = entries.find((e) => e.job.name === name);
      // A failing job keeps its backoff: being asked again does not make it work sooner.
      if (!entry || !started || stopped || entry.status.failing > 0) return;
      if (entry.running) {
        entry.again = true;
        return;
      }
      if (entry.timer && entry.dueAt <= Date.now() + delayMs) return;
      if (entry.timer) clearTimeout(entry.timer);
      arm(entry, delayMs);
    },
    status: () => entries.map((e) => ({ ...e.status })),
    async stop() {
      stopped = true;
      for (const entry of entries) if (entry.timer) clearTimeout(entry.timer);
      await Promise.all(entries.map((e) => e.running));
    },
  };
}
