import type { ResolvedConfig } from '../../config/index.ts';
import type { PaymentRail } from './types.ts';

/**
 * The payment rail that `billing.rail` names in the config in force. A reload (`tollgate dev`)
 * that switches the rail or changes its keys reaches the next charge, checkout and webhook
 * instead of the rail built at start-up. One rail object per distinct rail config, made when
 * first used after the change (`onCreate` wires it, e.g. the sandbox's confirmations); an
 * unchanged rail config keeps its object, so the sandbox's queued confirmations survive a reload.
 *
 * A Proxy rather than a wrapper listing the interface: rails carry extras beyond `PaymentRail`
 * (the sandbox's `drain`, `onEvent`, `cardOutcome`), and callers that use them must reach the
 * current rail too.
 */
export function liveRail(
  config: () => ResolvedConfig,
  make: (config: ResolvedConfig) => PaymentRail,
  onCreate: (rail: PaymentRail) => void = () => {},
): PaymentRail {
  let seen: unknown;
  let key = '';
  let rail: PaymentRail | null = null;
  function current(): PaymentRail {
    const railConfig = config().billing.rail;
    // A reload makes a new config object even when the rail is unchanged: compare what it says.
    if (rail === null || railConfig !== seen) {
      seen = railConfig;
      const next = JSON.stringify(railConfig);
      if (rail === null || next !== key) {
        key = next;
        rail = make(config());
        onCreate(rail);
      }
    }
    return rail;
  }
  return new Proxy({} as PaymentRail, {
    get(_target, property) {
      const target = current();
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    has: (_target, property) => Reflect.has(current(), property),
    // A property set (a test wrapping `chargeInvoice`) lands on the rail in force.
    set: (_target, property, value) => Reflect.set(current(), property, value),
  });
}
