import { z } from '@hono/zod-openapi';
import type { PlanVersion } from '../catalog/index.ts';
import type { ApiKey } from '../keys/index.ts';
import type { Customer, Subscription, SubscriptionSegment } from '../subscriptions/index.ts';

/** Response shapes of the admin API (dates as ISO 8601 strings) and their serializers. */
export { ProblemSchema } from '../http/openapi.ts';

const json = z.record(z.string(), z.unknown());
const date = z.string().openapi({ format: 'date-time', example: '2026-01-15T10:00:00.000Z' });

export const CustomerSchema = z
  .object({
    id: z.string().openapi({ example: 'cus_4k2m9x0q1z8r7t6y5w3v' }),
    name: z.string().openapi({ example: 'Acme Corp' }),
    email: z.string().nullable().openapi({ example: 'billing@acme.test' }),
    currency: z.string().openapi({ example: 'USD' }),
    metadata: json,
    billingDetails: json,
    createdAt: date,
    updatedAt: date,
  })
  .openapi('Customer');

export const PhaseSchema = z.object({ key: z.string(), from: date, to: date.nullable(), trial: z.boolean() });

export const SubscriptionSchema = z
  .object({
    id: z.string().openapi({ example: 'sub_9d8f7g6h5j4k3l2m1n0p' }),
    customerId: z.string(),
    plan: z.object({ key: z.string(), version: z.number().int() }),
    status: z.enum(['trialing', 'active', 'past_due', 'suspended', 'canceled']),
    startedAt: date,
    currentPeriod: z.object({ from: date, to: date }),
    phases: z.array(PhaseSchema),
    cancelAtPeriodEnd: z.boolean(),
    canceledAt: date.nullable(),
    endedAt: date.nullable(),
    pendingChange: z
      .object({ plan: z.object({ key: z.string(), version: z.number().int() }), effectiveAt: date })
      .nullable(),
    overrides: json.openapi({ description: 'Contract overrides of the plan (limits, prices, rate limit).' }),
    metadata: json,
    createdAt: date,
    updatedAt: date,
  })
  .openapi('Subscription');

export const SegmentSchema = z
  .object({
    plan: z.object({ key: z.string(), version: z.number().int() }),
    from: date,
    to: date.nullable(),
    reason: z.string(),
    overrides: json,
  })
  .openapi('SubscriptionSegment');

export const PlanVersionSchema = z
  .object({
    id: z.string(),
    plan: z.string(),
    version: z.number().int(),
    publishedAt: date,
    definition: json.openapi({
      description: 'The normalized plan: phases → rate cards → price + entitlement.',
    }),
  })
  .openapi('PlanVersion');

export const PlanSchema = z
  .object({
    key: z.string(),
    name: z.string(),
    status: z.enum(['active', 'archived']),
    latestVersion: z.number().int(),
    subscribers: z.number().int().openapi({ description: 'Subscriptions that are not canceled.' }),
    latest: PlanVersionSchema.nullable(),
  })
  .openapi('Plan');

export const FeatureSchema = z
  .object({
    key: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    meter: z.string().nullable(),
    meterGroupByFilters: z.record(z.string(), z.string()),
    archived: z.boolean(),
  })
  .openapi('Feature');

export const ApiKeySchema = z
  .object({
    id: z.string(),
    customerId: z.string(),
    subscriptionId: z.string().nullable(),
    name: z.string(),
    prefix: z.string().openapi({ example: 'tg_live_AbC1' }),
    metadata: json,
    status: z.enum(['active', 'expired', 'revoked']),
    createdAt: date,
    expiresAt: date.nullable(),
    revokedAt: date.nullable(),
    lastUsedAt: date.nullable(),
  })
  .openapi('ApiKey');

export const BalanceSchema = z
  .object({
    featureKey: z.string(),
    featureName: z.string(),
    type: z.enum(['metered', 'boolean', 'static']),
    hasAccess: z.boolean(),
    limit: z.number().nullable(),
    softLimit: z.boolean(),
    usage: z.number().nullable(),
    remaining: z.number().nullable(),
    overage: z.number(),
    periodStart: date.nullable(),
    resetAt: date.nullable(),
    config: json.optional(),
  })
  .openapi('EntitlementBalance');

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export const customerOut = (c: Customer) => ({
  id: c.id,
  name: c.name,
  email: c.email,
  currency: c.currency,
  metadata: c.metadata,
  billingDetails: c.billingDetails,
  createdAt: c.createdAt.toISOString(),
  updatedAt: c.updatedAt.toISOString(),
});

export const subscriptionOut = (s: Subscription) => ({
  id: s.id,
  customerId: s.customerId,
  plan: { key: s.planKey, version: s.planVersion },
  status: s.status,
  startedAt: s.startedAt.toISOString(),
  currentPeriod: { from: s.currentPeriod.from.toISOString(), to: s.currentPeriod.to.toISOString() },
  phases: s.phases.map((p) => ({ key: p.key, from: p.from.toISOString(), to: iso(p.to), trial: p.trial })),
  cancelAtPeriodEnd: s.cancelAtPeriodEnd,
  canceledAt: iso(s.canceledAt),
  endedAt: iso(s.endedAt),
  pendingChange: s.pendingChange
    ? {
        plan: { key: s.pendingChange.planKey, version: s.pendingChange.version },
        effectiveAt: s.pendingChange.effectiveAt.toISOString(),
      }
    : null,
  overrides: s.overrides as Record<string, unknown>,
  metadata: s.metadata,
  createdAt: s.createdAt.toISOString(),
  updatedAt: s.updatedAt.toISOString(),
});

export const segmentOut = (s: SubscriptionSegment) => ({
  plan: { key: s.planKey, version: s.planVersion },
  from: s.from.toISOString(),
  to: iso(s.to),
  reason: s.reason,
  overrides: s.overrides as Record<string, unknown>,
});

export const planVersionOut = (v: PlanVersion) => ({
  id: v.id,
  plan: v.planKey,
  version: v.version,
  publishedAt: v.publishedAt.toISOString(),
  definition: v.definition as unknown as Record<string, unknown>,
});

export const keyOut = (k: ApiKey) => ({
  id: k.id,
  customerId: k.customerId,
  subscriptionId: k.subscriptionId,
  name: k.name,
  prefix: k.prefix,
  metadata: k.metadata,
  status: k.status,
  createdAt: k.createdAt.toISOString(),
  expiresAt: iso(k.expiresAt),
  revokedAt: iso(k.revokedAt),
  lastUsedAt: iso(k.lastUsedAt),
});
