import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../util/log.ts';

/**
 * What custom TypeScript code in `tollgate.config.ts` sees. Policies are plain functions, as in
 * Hono middleware: return nothing to continue, a `Response` to answer instead of the upstream.
 */
export interface GatewayRequestInfo {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Path parameters from the route template (`/users/{id}` → `{ id }`). */
  readonly params: Readonly<Record<string, string>>;
  readonly ip: string;
}

export interface KeyInfo {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly customerId: string;
  readonly subscriptionId: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface CustomerInfo {
  readonly id: string;
  readonly name: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface EntitlementInfo {
  readonly featureKey: string;
  readonly type: 'metered' | 'boolean' | 'static';
  readonly hasAccess: boolean;
  /** Metered: units included per usage period (undefined = unlimited). */
  readonly limit?: number;
  readonly softLimit?: boolean;
  /** Static: the configuration value, e.g. `{ models: ['small'] }`. */
  readonly config?: Readonly<Record<string, unknown>>;
}

export interface SubscriptionInfo {
  readonly id: string;
  readonly status: 'trialing' | 'active' | 'past_due' | 'suspended' | 'canceled';
  readonly plan: { readonly key: string; readonly version: number; readonly name: string };
  readonly phase: string;
  readonly currentPeriod: { readonly from: Date; readonly to: Date };
}

export interface PolicyContext {
  readonly requestId: string;
  readonly request: GatewayRequestInfo;
  readonly route: { readonly method: string; readonly path: string; readonly feature?: string };
  readonly key: KeyInfo | null;
  readonly customer: CustomerInfo | null;
  readonly subscription: SubscriptionInfo | null;
  readonly entitlements: Readonly<Record<string, EntitlementInfo>>;
  readonly log: Logger;
  /** Free-form storage shared by a request's policies (inbound → outbound → metering hook). */
  readonly state: Map<string, unknown>;
}

export interface UpstreamResponseInfo {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
}

export type InboundPolicy = (ctx: PolicyContext) => Response | undefined | Promise<Response | undefined>;

/** Outbound policies may change response headers (not the streamed body). */
export type OutboundPolicy = (
  ctx: PolicyContext,
  response: UpstreamResponseInfo & { setHeader(name: string, value: string): void },
) => void | Promise<void>;

export interface RateLimitDecisionInput {
  /** Counter identity; requests with the same key share a budget. */
  key: string;
  limit: number;
  window: string;
  burst?: number;
}

/** Dynamic rate limits, as in the Zuplo example: `(ctx) => ({ key: ctx.customer.id, limit: …, window: '1m' })`. */
export type RateLimitFunction = (ctx: PolicyContext) => RateLimitDecisionInput | undefined;

export interface UsageEventInput {
  /** CloudEvents `type`, matched by meters' `eventType`. */
  type: string;
  data: Record<string, unknown>;
  /** Defaults to the request's customer. */
  subject?: string;
}

export interface MeteringHookInput {
  readonly status: number;
  /** Parsed JSON response body when it was JSON and ≤ 1 MB; SSE final chunk's JSON for streams. */
  readonly body: unknown;
  /** Events the gateway derived (request + AI tokens); return a new list to replace them. */
  readonly events: readonly UsageEventInput[];
}

export type MeteringHook = (
  ctx: PolicyContext,
  response: MeteringHookInput,
) => UsageEventInput[] | undefined | Promise<UsageEventInput[] | undefined>;

export interface PricingHookInput {
  readonly customer: CustomerInfo;
  readonly plan: { readonly key: string; readonly version: number };
  readonly rateCardKey: string;
  /** Amount before the hook, decimal string. */
  readonly amount: string;
  readonly currency: string;
}

/** Business rules on price, e.g. partner discounts: return the new amount as a decimal string. */
export type PricingHook = (input: PricingHookInput) => string | undefined;
