import type { PriceConfig, RateCardConfig, ResolvedConfig } from '../config/index.ts';
import type { UsageEvent } from '../metering/events.ts';
import type { AccessView } from '../subscriptions/access.ts';
import type { Logger } from '../util/log.ts';
import { Decimal } from '../util/money.ts';
import { amountOf, type FeatureMeter, matchesFilters } from './feature-meters.ts';

/**
 * Prepaid credits in the request path, for credits-only customers: before the upstream call a
 * reservation of the call's most expensive outcome is taken off the balance (402
 * `credits-exhausted` when it does not fit), and once the response is metered the reservation is
 * settled with what its usage events cost at the plan's prices. Everybody else pays one Map
 * lookup (`creditsOnlyCurrency`), nothing more.
 *
 * The estimate: the route's request price, plus, on AI routes (a route with `models` or
 * `reserveOutputTokens`) of a plan that prices tokens, the request body's size in bytes as input
 * tokens (a token is at least a byte) and the request's `max_tokens` (`max_completion_tokens`,
 * `max_output_tokens`) as output tokens, or the route's `reserveOutputTokens` (default 4096) when
 * the request sets none. A call can cost more than its reservation only when its output passes
 * that default (or tokens come back from a route not marked as an AI route); the balance then goes
 * below zero by at most `actual − reserved` of the calls in flight.
 *
 * Real-time prices are upper bounds: a unit price, a package's price per unit, a tiered price's
 * highest unit price (flat fees are not usage). The period's invoice is authoritative: it
 * counts the usage booked here as credits already applied and gives back what was booked above it.
 */
export interface CreditsPort {
  /** Synchronous: the currency of a credits-only customer's balance; null for everyone else. */
  creditsOnlyCurrency(customerId: string): string | null;
  reserve(input: {
    customerId: string;
    currency: string;
    amount: string;
  }): Promise<{ reservationId: string }>;
  settle(input: { reservationId: string; actual: string }): Promise<void>;
  /** The rate cards in force for a subscription (plan version, phase and contract). */
  rateCards(subscriptionId: string): Promise<readonly RateCardConfig[]>;
}

interface PricedMeter extends FeatureMeter {
  unitPrice: Decimal;
}

export interface CreditCall {
  customerId: string;
  view: AccessView;
  route: { method: string; path: string; models: ReadonlyMap<string, string> | null };
  method: string;
  /** The request body when the gateway read it (model-gated routes). */
  body: Buffer | null;
  contentLength: number;
  model: string | null;
  config: ResolvedConfig;
  featureMeters: ReadonlyMap<string, FeatureMeter>;
}

export interface CreditHold {
  reservationId: string;
  prices: readonly PricedMeter[];
}

export const DEFAULT_RESERVE_OUTPUT_TOKENS = 4096;
/** The gateway's token events: `data.type` is `input`, `output` or `cached`. */
const TOKEN_EVENT = 'tokens';
const LEDGER_DIGITS = 8;

/** An upper bound of a usage price per unit; null for fees. */
export function unitPriceOf(price: PriceConfig | null | undefined): Decimal | null {
  if (!price) return null;
  switch (price.type) {
    case 'unit':
      return new Decimal(price.amount);
    case 'package':
      return new Decimal(price.amount).div(price.quantityPerPackage);
    case 'tiered':
      return price.tiers.reduce((max, t) => Decimal.max(max, t.unitPrice ?? 0), new Decimal(0));
    default:
      return null;
  }
}

/** What the events cost at the given prices. */
export function costOf(prices: readonly PricedMeter[], events: readonly UsageEvent[]): Decimal {
  let cost = new Decimal(0);
  for (const event of events) {
    for (const p of prices) {
      const quantity = amountOf(p, event.type, event.data);
      if (quantity > 0) cost = cost.add(p.unitPrice.mul(quantity));
    }
  }
  return cost;
}

function maxTokensOf(body: Buffer | null): number | null {
  if (body === null) return null;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown> | null;
    for (const name of ['max_tokens', 'max_completion_tokens', 'max_output_tokens']) {
      const v = parsed?.[name];
      if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    }
  } catch {
    // not JSON: the route's estimate applies
  }
  return null;
}

/** `reserveOutputTokens` of the config's routes, by `<METHOD> <path>`. */
const routeReserves = new WeakMap<ResolvedConfig, Map<string, number>>();

/** Output tokens to reserve; null on a route that is not an AI route (no `models`, no `reserveOutputTokens`). */
function reserveOutputTokensOf(call: CreditCall): number | null {
  let byRoute = routeReserves.get(call.config);
  if (byRoute === undefined) {
    byRoute = new Map();
    for (const r of call.config.routes) {
      if (r.reserveOutputTokens !== undefined) byRoute.set(`${r.method} ${r.path}`, r.reserveOutputTokens);
    }
    routeReserves.set(call.config, byRoute);
  }
  const configured = byRoute.get(`${call.route.method} ${call.route.path}`);
  if (configured !== undefined) return configured;
  return call.route.models !== null ? DEFAULT_RESERVE_OUTPUT_TOKENS : null;
}

/** The reservation for a call: its request price and, where tokens are priced, its largest token bill. */
export function estimateOf(prices: readonly PricedMeter[], call: CreditCall): Decimal {
  const request = {
    route: call.route.path,
    method: call.route.method === '*' ? call.method : call.route.method,
  };
  let estimate = new Decimal(0);
  const perToken = { input: new Decimal(0), output: new Decimal(0), cached: new Decimal(0) };
  for (const p of prices) {
    if (p.eventType === 'request') {
      if (p.value === null && matchesFilters(p.filters, request)) estimate = estimate.add(p.unitPrice);
      continue;
    }
    if (p.eventType !== TOKEN_EVENT) continue;
    for (const type of ['input', 'output', 'cached'] as const) {
      // An unknown model may be any of them: every model's price counts.
      const applies = p.filters.every(
        ({ path, value }) =>
          (path === '$.type' && value === type) ||
          (path === '$.model' && (call.model === null || value === call.model)),
      );
      if (applies) perToken[type] = perToken[type].add(p.unitPrice);
    }
  }
  const inputPrice = Decimal.max(perToken.input, perToken.cached);
  const reserveTokens = reserveOutputTokensOf(call);
  if (reserveTokens !== null && (inputPrice.gt(0) || perToken.output.gt(0))) {
    const inputTokens = call.body?.length ?? call.contentLength;
    const outputTokens = maxTokensOf(call.body) ?? reserveTokens;
    estimate = estimate.add(inputPrice.mul(inputTokens)).add(perToken.output.mul(outputTokens));
  }
  return estimate;
}

export class GatewayCredits {
  readonly port: CreditsPort;
  readonly log: Logger;
  /** Prices per access view: a new view (plan change, contract) reads them again. */
  readonly #prices = new WeakMap<AccessView, Promise<PricedMeter[]>>();

  constructor(port: CreditsPort, log: Logger) {
    this.port = port;
    this.log = log;
  }

  /** Synchronous, the only cost for customers who are not credits-only. */
  isCreditsOnly(customerId: string): boolean {
    return this.port.creditsOnlyCurrency(customerId) !== null;
  }

  /**
   * The reservation for a credits-only customer's call, or null when nothing the call can do is
   * priced; rejects with the 402 problem when the balance does not cover it.
   */
  async reserve(call: CreditCall): Promise<CreditHold | null> {
    const currency = this.port.creditsOnlyCurrency(call.customerId);
    if (currency === null) return null;
    const prices = await this.pricesOf(call);
    if (prices.length === 0) return null;
    const amount = estimateOf(prices, call).toDecimalPlaces(LEDGER_DIGITS, Decimal.ROUND_UP);
    const { reservationId } = await this.port.reserve({
      customerId: call.customerId,
      currency,
      amount: amount.toString(),
    });
    return { reservationId, prices };
  }

  /** After the call: the metered events' cost is booked (none when the response was not metered). */
  settle(hold: CreditHold, events: readonly UsageEvent[] | null): void {
    const actual = events === null ? new Decimal(0) : costOf(hold.prices, events);
    this.port
      .settle({
        reservationId: hold.reservationId,
        actual: actual.toDecimalPlaces(LEDGER_DIGITS, Decimal.ROUND_UP).toString(),
      })
      .catch((error) =>
        this.log.error({ err: error, reservationId: hold.reservationId }, 'settling credits failed'),
      );
  }

  pricesOf(call: CreditCall): Promise<PricedMeter[]> {
    let prices = this.#prices.get(call.view);
    if (prices === undefined) {
      prices = this.loadPrices(call);
      this.#prices.set(call.view, prices);
      // A failed read is not cached: the next call tries again.
      prices.catch(() => this.#prices.delete(call.view));
    }
    return prices;
  }

  async loadPrices(call: CreditCall): Promise<PricedMeter[]> {
    const subscription = call.view.subscription;
    if (subscription === null) return [];
    const out: PricedMeter[] = [];
    for (const card of await this.port.rateCards(subscription.id)) {
      const unitPrice = unitPriceOf(card.price);
      const meter = card.feature ? call.featureMeters.get(card.feature) : undefined;
      if (unitPrice === null || unitPrice.lte(0) || meter === undefined) continue;
      out.push({ ...meter, unitPrice });
    }
    return out;
  }
}
