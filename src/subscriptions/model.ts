import { z } from 'zod';
import { entitlementSchema, priceSchema, rateLimitSchema } from '../config/schema.ts';
import type { PhaseEntry } from './periods.ts';

/** Customers (organisations) and subscriptions, as the rest of Tollgate sees them. */
export interface Customer {
  id: string;
  name: string;
  email: string | null;
  currency: string;
  metadata: Record<string, unknown>;
  /** Free-form until billing needs structure (address, tax id …). */
  billingDetails: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

export type SubscriptionStatus = 'trialing' | 'active' | 'past_due' | 'suspended' | 'canceled';

export interface PendingChange {
  planKey: string;
  version: number;
  planVersionId: string;
  effectiveAt: Date;
}

export interface Subscription {
  id: string;
  customerId: string;
  planKey: string;
  planVersion: number;
  planVersionId: string;
  status: SubscriptionStatus;
  startedAt: Date;
  currentPeriod: { from: Date; to: Date };
  phases: PhaseEntry[];
  cancelAtPeriodEnd: boolean;
  canceledAt: Date | null;
  endedAt: Date | null;
  pendingChange: PendingChange | null;
  overrides: ContractOverrides;
  metadata: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

/** Which plan version (and contract) was in force over [from, to): what billing prorates by second. */
export interface SubscriptionSegment {
  id: string;
  subscriptionId: string;
  planKey: string;
  planVersion: number;
  planVersionId: string;
  overrides: ContractOverrides;
  from: Date;
  to: Date | null;
  reason: 'subscribe' | 'upgrade' | 'downgrade' | 'change' | 'migrate' | 'overrides' | 'cancel';
}

export interface SubscriptionPeriod {
  subscriptionId: string;
  from: Date;
  to: Date;
  closedAt: Date | null;
}

/**
 * A contract: per-customer overrides of the plan's limits and prices (Enterprise "custom
 * limits"). Rate cards are matched by key; a key the plan lacks adds a rate card (it then needs
 * a feature). `limit`/`softLimit` are shorthands for the metered entitlement's fields.
 */
export const rateCardOverrideSchema = z.strictObject({
  name: z.string().optional(),
  feature: z.string().optional(),
  price: priceSchema.nullable().optional(),
  entitlement: entitlementSchema.nullable().optional(),
  /** Metered limit per usage period; null = unlimited. */
  limit: z.number().int().nonnegative().nullable().optional(),
  softLimit: z.boolean().optional(),
  /** Remove the plan's rate card for this customer. */
  remove: z.boolean().optional(),
});

export const contractOverridesSchema = z.strictObject({
  rateLimit: rateLimitSchema.nullable().optional(),
  rateCards: z.record(z.string(), rateCardOverrideSchema).optional(),
});

export type RateCardOverride = z.output<typeof rateCardOverrideSchema>;
export type ContractOverrides = z.output<typeof contractOverridesSchema>;

export const customerInputSchema = z.strictObject({
  /** Your own id for the organisation (e.g. from your user database); generated when absent. */
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'use letters, digits, "_", ".", ":" and "-" (max 128)')
    .optional(),
  name: z.string().min(1).max(200),
  email: z.email().nullable().optional(),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"')
    .optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  billingDetails: z.record(z.string(), z.unknown()).optional(),
});
export type CustomerInput = z.input<typeof customerInputSchema>;

export const customerPatchSchema = customerInputSchema.omit({ id: true }).partial();
export type CustomerPatch = z.input<typeof customerPatchSchema>;
