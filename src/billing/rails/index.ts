import type { ResolvedConfig } from '../../config/index.ts';
import type { Db } from '../model.ts';
import { createInvoiceRail } from './invoice.ts';
import { createPaddleRail } from './paddle.ts';
import { createRecurlyRail } from './recurly.ts';
import { createSandboxRail } from './sandbox.ts';
import { createStripeRail } from './stripe.ts';
import type { PaymentRail } from './types.ts';

export { SANDBOX_CARDS, type SandboxRail } from './sandbox.ts';
export type { PaymentRail, RailEvent } from './types.ts';

/** The rail chosen by `billing.rail` in the config. */
export function createRail(config: ResolvedConfig, db: Db): PaymentRail {
  const rail = config.billing.rail;
  if (rail === 'sandbox' || (typeof rail === 'object' && rail.type === 'sandbox'))
    return createSandboxRail(db);
  if (rail === 'invoice') return createInvoiceRail(30);
  if (rail.type === 'invoice') return createInvoiceRail(rail.netDays);
  if (rail.type === 'paddle') {
    return createPaddleRail({
      apiKey: rail.apiKey,
      webhookSecret: rail.webhookSecret,
      apiBase: rail.apiBase,
    });
  }
  if (rail.type === 'recurly') {
    return createRecurlyRail({
      apiKey: rail.apiKey,
      webhookSecret: rail.webhookSecret,
      subdomain: rail.subdomain,
      region: rail.region,
      apiBase: rail.apiBase,
    });
  }
  return createStripeRail({
    secretKey: rail.secretKey,
    webhookSecret: rail.webhookSecret,
    apiBase: rail.apiBase,
  });
}
