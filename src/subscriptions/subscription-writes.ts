/**
 * Writes and checks the subscription service's operations share: a new subscription's row, and the
 * refusal to change a canceled one.
 */
import type { PlanVersion } from '../catalog/index.ts';
import { problems } from '../http/problem.ts';
import { newId } from '../util/ids.ts';
import type { ContractOverrides, Subscription } from './model.ts';
import { billingPeriodAt, layoutPhases, phasesToJson } from './periods.ts';
import { type SubscriptionDb, toCustomer, toSubscription } from './repo.ts';

export interface NewSubscription {
  customerId: string;
  version: PlanVersion;
  overrides: ContractOverrides;
  metadata: Record<string, unknown>;
  skipTrial: boolean;
  now: Date;
}

/**
 * Writes a new subscription's row inside the caller's transaction, after locking its customer:
 * two concurrent subscribes for one customer run one after the other, and a customer has at most
 * one live subscription.
 */
export async function insertSubscription(tx: SubscriptionDb, input: NewSubscription): Promise<Subscription> {
  const { version, overrides, now } = input;
  // The customer row is locked: two concurrent subscribes for one customer run one after the other.
  const customerRow = await tx
    .selectFrom('customers')
    .selectAll()
    .where('id', '=', input.customerId)
    .forUpdate()
    .executeTakeFirst();
  const customer = customerRow ? toCustomer(customerRow) : null;
  if (!customer || customer.deletedAt) throw problems.notFound(`No customer "${input.customerId}".`);
  // One live subscription per customer: a plan change is a change, not a second subscription.
  const live = await tx
    .selectFrom('subscriptions')
    .select('id')
    .where('customer_id', '=', customer.id)
    .where('status', '<>', 'canceled')
    .executeTakeFirst();
  if (live) {
    throw problems.conflict(
      `Customer "${customer.id}" already has subscription "${live.id}"; change its plan instead.`,
      { subscriptionId: live.id },
    );
  }
  const phases = layoutPhases(version.definition, now, { skipTrial: input.skipTrial });
  const period = billingPeriodAt(phases, version.definition.billingCadence, now);
  const id = newId('sub');
  const row = await tx
    .insertInto('subscriptions')
    .values({
      id,
      customer_id: customer.id,
      plan_key: version.planKey,
      plan_version: version.version,
      plan_version_id: version.id,
      status: phases[0]?.trial ? 'trialing' : 'active',
      started_at: now,
      current_period_start: period.from,
      current_period_end: period.to,
      phases: JSON.stringify(phasesToJson(phases)),
      cancel_at_period_end: false,
      canceled_at: null,
      ended_at: null,
      pending_change: null,
      overrides: JSON.stringify(overrides),
      metadata: JSON.stringify(input.metadata),
      created_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSubscription(row);
}

/** Operations on a canceled subscription are refused: a canceled customer subscribes again. */
export function notCanceled(sub: Subscription): void {
  if (sub.status === 'canceled') {
    throw problems.conflict(`Subscription "${sub.id}" is canceled; subscribe the customer again instead.`, {
      subscriptionId: sub.id,
    });
  }
}
