import { createScheduler, type Scheduler } from '../cluster/scheduler.ts';
import type { Backends } from './backends.ts';
import type { Modules } from './modules.ts';
import type { Routes } from './routes.ts';
import type { StopList } from './stop-list.ts';

/**
 * Phase 4: every timer loop, on one scheduler (see cluster/scheduler.ts for what it guarantees).
 * Gateways refresh spend caps; workers (and `all`) also bill, deliver webhooks and send alerts.
 * The CLI role runs no jobs: a command does its work and exits.
 */
export function startJobs(b: Backends, m: Modules, r: Routes, stopping: StopList): Scheduler {
  const scheduler = createScheduler({ store: b.store, log: b.log.child({ module: 'jobs' }) });
  stopping.push(() => scheduler.stop());
  const worker = b.role === 'all' || b.role === 'worker';
  if (b.role === 'cli') return scheduler;

  // Every node writes when its gateway last saw each key (one UPDATE per round), and forgets
  // in-memory counters that no longer matter (rate limits refilled, quota periods ended).
  scheduler.add({ name: 'key-last-used', everyMs: 10_000, run: () => m.keyVerifier.flushUsage() });
  scheduler.add({ name: 'counter-sweep', everyMs: 60_000, run: async () => b.counters.sweep?.() });
  // Every node refreshes spend caps (gateways enforce them); alerts fire from workers only.
  scheduler.add({
    name: 'budgets',
    everyMs: 5_000,
    run: () => r.portal.evaluateBudgets({ alerts: worker }),
  });
  if (worker) {
    // Billing takes its own advisory lock per run (billing/deps.ts), so every worker may try.
    scheduler.add({
      name: 'billing',
      everyMs: 60_000,
      run: async () => {
        await m.billing.runBilling();
        await m.billing.runDunning();
      },
    });
    // Webhook delivery: every 500 ms, and at once after an event is written (runSoon). Not
    // exclusive: deliveries are claimed with row locks, so every worker may deliver.
    m.webhooks.start(scheduler);
    scheduler.add({
      name: 'usage-thresholds',
      everyMs: 15_000,
      exclusive: true,
      runAtStart: true,
      run: () => m.usageThresholds.evaluateAll(),
    });
  }
  scheduler.start();
  return scheduler;
}
