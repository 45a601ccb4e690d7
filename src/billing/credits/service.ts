import { type ProblemError, problems } from '../../http/problem.ts';
import type { Clock } from '../../util/clock.ts';
import { Decimal, formatMoney } from '../../util/money.ts';
import type { Db } from '../model.ts';
import { account, configure, creditsOnlyBalances, currencies, ledger, settings } from './account.ts';
import { drawdown } from './drawdown.ts';
import {
  ABANDONED_MARGIN_MS,
  dueGrants,
  expireRemainders,
  includedGrants,
  releaseAbandoned,
} from './expiry.ts';
import { balanceOf, entryByKey, grantRemaining, insertEntry, selectEntries } from './ledger.ts';
import { type CreditEntry, type CreditsService, creditsExhausted } from './model.ts';
import { reserve, settle } from './reservations.ts';
import { creditDb } from './tables.ts';

/**
 * The credits service: the ledger's parts (ledger.ts, drawdown.ts, reservations.ts, expiry.ts,
 * account.ts) and the gateway's synchronous check. Customers marked credits-only are refused with
 * 402 `credits-exhausted` once their balance is at or below zero; the check is a Map lookup so it
 * fits the gateway's hot path; the map is refreshed on every ledger write in this process and on
 * the `credits` change-feed topic from other nodes.
 */
export function createCreditsService(options: {
  db: Db;
  clock: Clock;
  onChange?: (customerId: string) => void;
  /**
   * A call's usage was booked in real time (credits-only customers): billing checks the
   * customer's auto-recharge threshold, as it does after an invoice draws credits.
   */
  onSpent?: (customerId: string, currency: string) => void;
}): CreditsService {
  const { db, clock } = options;
  /** credits-only customers → (currency → balance) */
  const creditsOnly = new Map<string, Map<string, Decimal>>();
  /** When the abandoned-reservation check last ran in this process (it then saw all older ones). */
  let abandonedCheckedUntil: Date | null = null;

  async function refresh(customerId?: string): Promise<void> {
    const rows = await creditsOnlyBalances(db, customerId);
    if (customerId) creditsOnly.delete(customerId);
    else creditsOnly.clear();
    for (const r of rows) {
      let byCurrency = creditsOnly.get(r.customer_id);
      if (!byCurrency) {
        byCurrency = new Map();
        creditsOnly.set(r.customer_id, byCurrency);
      }
      byCurrency.set(r.currency, new Decimal(r.balance));
    }
  }

  async function changed(customerId: string): Promise<void> {
    await refresh(customerId);
    options.onChange?.(customerId);
  }
  async function changedAll(customerIds: string[]): Promise<number> {
    for (const id of customerIds) await changed(id);
    return customerIds.length;
  }

  async function grant(input: Parameters<CreditsService['grant']>[0]): Promise<CreditEntry> {
    const amount = new Decimal(input.amount);
    if (!amount.isFinite() || amount.lte(0))
      throw problems.badRequest('A credit grant needs a positive amount.');
    const on = input.db ?? db;
    const entry =
      (await insertEntry(on, clock.now(), {
        customerId: input.customerId,
        currency: input.currency,
        kind: input.kind ?? 'grant',
        amount,
        expiresAt: input.expiresAt ?? null,
        note: input.note ?? null,
        idempotencyKey: input.idempotencyKey ?? null,
      })) ?? (await entryByKey(on, input.idempotencyKey as string));
    if (!entry) throw new Error(`The credit grant ${input.idempotencyKey} was neither written nor found.`);
    if (!input.db) await changed(input.customerId);
    return entry;
  }

  /** Refunds (part of) a top-up: the credit leaves the ledger (the money goes back through the rail). */
  async function refund(input: { grantId: string; amount: string; note?: string }): Promise<CreditEntry> {
    const grantRow = await selectEntries(creditDb(db))
      .where('id', '=', input.grantId)
      .where('kind', 'in', ['grant', 'topup'])
      .executeTakeFirst();
    if (!grantRow) throw problems.notFound(`No credit grant ${input.grantId}.`);
    const remaining = (await grantRemaining(db, grantRow.id)) ?? new Decimal(0);
    const amount = new Decimal(input.amount);
    if (amount.lte(0) || amount.gt(remaining)) {
      throw problems.conflict(
        `Only ${remaining.toString()} ${grantRow.currency} of this grant is unused and refundable.`,
      );
    }
    const entry = await insertEntry(db, clock.now(), {
      customerId: grantRow.customer_id,
      currency: grantRow.currency,
      kind: 'refund',
      amount: amount.neg(),
      grantId: grantRow.id,
      note: input.note ?? 'Refund',
    });
    await changed(grantRow.customer_id);
    return entry as CreditEntry;
  }

  const service: CreditsService = {
    async balance(customerId, currency, on) {
      return formatMoney(await balanceOf(on ?? db, customerId, currency), currency);
    },
    ledger: (customerId, currency) => ledger(db, customerId, currency),
    account: (customerId, currency, accountOptions = {}) =>
      account(db, clock.now(), customerId, currency, accountOptions.recent ?? 100),
    currencies: (customerId) => currencies(db, customerId),
    grant,
    drawdown: (on, input) => drawdown(on, clock.now(), input),
    refund,
    async expireIncluded(subscriptionId) {
      const grants = await includedGrants(db, subscriptionId, clock.now());
      return changedAll(await expireRemainders(db, clock.now(), grants, 'Subscription ended'));
    },
    async expireDue(now = clock.now()) {
      // Each run looks only at reservations that came of age since the one before (with a margin
      // for clocks of other nodes): older ones were released by then or settled. The first run of
      // a process looks at all of them.
      const since =
        abandonedCheckedUntil && abandonedCheckedUntil <= now
          ? new Date(abandonedCheckedUntil.getTime() - ABANDONED_MARGIN_MS)
          : null;
      await changedAll(await releaseAbandoned(db, { now, since, at: clock.now() }));
      abandonedCheckedUntil = now;
      return changedAll(await expireRemainders(db, clock.now(), await dueGrants(db, now), 'Expired'));
    },
    async reserve(input) {
      const reservationId = await reserve(db, clock.now(), input);
      await changed(input.customerId);
      return { reservationId };
    },
    async settle(input) {
      const settled = await settle(db, clock.now(), input);
      if (settled === undefined) throw problems.notFound('No such reservation.');
      if (!settled) return;
      await changed(settled.customerId);
      if (new Decimal(input.actual).gt(0)) options.onSpent?.(settled.customerId, settled.currency);
    },
    async configure(input) {
      await configure(db, input);
      await changed(input.customerId);
    },
    settings: (customerId, currency) => settings(db, customerId, currency),
    accessCheck(customerId): ProblemError | null {
      const byCurrency = creditsOnly.get(customerId);
      if (!byCurrency) return null;
      for (const [currency, balance] of byCurrency) {
        if (balance.lte(0)) return creditsExhausted(customerId, currency);
      }
      return null;
    },
    creditsOnlyCurrency(customerId) {
      const byCurrency = creditsOnly.get(customerId);
      if (!byCurrency) return null;
      for (const currency of byCurrency.keys()) return currency;
      return null;
    },
    refresh,
    committed: changed,
  };
  return service;
}
