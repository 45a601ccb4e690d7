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
    // Webhook delivery keeps its own loop for now: it also delivers at once after an emit, which
    // notify/webhooks.ts ties to that loop. It contains its own failures (logged, retried).
    m.webhooks.start();
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
