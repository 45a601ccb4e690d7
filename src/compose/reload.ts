import type { ResolvedConfig } from '../config/index.ts';
import type { Backends } from './backends.ts';
import type { Modules } from './modules.ts';

/**
 * Applies an edited config (`tollgate dev`), refused whole if a coupon code it declares is also
 * a stored coupon: meters first (an edited plan may price a meter the
 * edit added), then the catalog, then — dev mode only — subscribers follow an edited plan at
 * once so the edit shows on the next request (`tollgate start` keeps them on their version
 * until `tollgate plans migrate`). Last, the config is replaced for every module that reads it
 * (the gateway recompiles its routes on that change), so nothing sees the new config before
 * the meters and plans it refers to exist.
 */
export function configReloader(b: Backends, m: Modules): (next: ResolvedConfig) => Promise<void> {
  const { log } = b;
  return async (next) => {
    await m.billing.discounts.assertConfigCodes(next);
    await m.metering.meters.reload(next.meters);
    const pushed = await m.catalog.sync(next);
    for (const plan of pushed.plans) {
      if (plan.action !== 'publish' || plan.subscribers === 0) continue;
      try {
        const { migrated } = await m.subscriptions.migratePlan(plan.key);
        log.info(
          { plan: plan.key, version: plan.toVersion, migrated: migrated.length },
          'dev: subscribers migrated',
        );
      } catch (error) {
        log.warn({ err: error, plan: plan.key }, 'dev: some subscribers stay on their version');
      }
    }
    b.config.replace(next);
  };
}
