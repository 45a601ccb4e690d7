import { Decimal, formatMoney } from '../../util/money.ts';
import type { Db } from '../model.ts';
import { balanceOf, insertEntry, lockCustomer, openGrants, selectEntries } from './ledger.ts';
import { creditsExhausted } from './model.ts';
import { creditDb } from './tables.ts';

/**
 * Reservations (AI calls): `reserve` takes an estimate off the balance before the call and
 * refuses when the balance is below it; `settle` releases the reservation and books the actual
 * usage. The balance can go below zero only by `actual − reserved` of calls in flight, which is
 * the documented bound (reserve the model's max tokens to make it zero). Reservations of one
 * customer are taken one at a time (an advisory lock), so concurrent calls cannot all pass the
 * same balance.
 */
export async function reserve(
  db: Db,
  at: Date,
  input: { customerId: string; currency: string; amount: string },
): Promise<string> {
  const amount = new Decimal(input.amount);
  const entry = await db.transaction().execute(async (tx) => {
    // One reservation of a customer at a time, on every node: each sees the ones before it.
    await lockCustomer(tx, input.customerId, input.currency);
    const balance = await balanceOf(tx, input.customerId, input.currency);
    if (balance.lte(0)) throw creditsExhausted(input.customerId, input.currency);
    if (balance.lt(amount)) {
      throw creditsExhausted(input.customerId, input.currency, {
        balance: formatMoney(balance, input.currency),
        reserve: amount.toString(),
      });
    }
    return insertEntry(tx, at, {
      customerId: input.customerId,
      currency: input.currency,
      kind: 'reservation',
      amount: amount.neg(),
      note: 'Reserved for a call in flight',
    });
  });
  if (!entry) throw new Error('A reservation without an idempotency key was not written.');
  return entry.id;
}

/** Books a call's usage against its reservation; the customer, or null when settled before. */
export async function settle(
  db: Db,
  at: Date,
  input: { reservationId: string; actual: string },
): Promise<{ customerId: string; currency: string } | null | undefined> {
  const reservation = await selectEntries(creditDb(db))
    .where('id', '=', input.reservationId)
    .where('kind', '=', 'reservation')
    .executeTakeFirst();
  if (!reservation) return undefined;
  const { customer_id: customerId, currency } = reservation;
  const settled = await db.transaction().execute(async (tx) => {
    // Under the customer's lock, so concurrent settlements take each grant's remainder in turn.
    await lockCustomer(tx, customerId, currency);
    const released = await insertEntry(tx, at, {
      customerId,
      currency,
      kind: 'release',
      amount: new Decimal(reservation.amount).neg(),
      grantId: null,
      idempotencyKey: `release:${reservation.id}`,
      note: 'Reservation settled',
    });
    if (!released) return false; // settled before
    await bookUsage(tx, at, { id: reservation.id, customerId, currency }, new Decimal(input.actual));
    return true;
  });
  return settled ? { customerId, currency } : null;
}

/** The call's actual usage, drawn from grants soonest expiry first, the rest below zero. */
async function bookUsage(
  tx: Db,
  at: Date,
  reservation: { id: string; customerId: string; currency: string },
  actual: Decimal,
): Promise<void> {
  let left = actual;
  for (const grant of await openGrants(tx, reservation.customerId, reservation.currency, at)) {
    if (left.lte(0)) break;
    const take = Decimal.min(new Decimal(grant.remaining), left);
    if (take.lte(0)) continue;
    await insertEntry(tx, at, {
      customerId: reservation.customerId,
      currency: reservation.currency,
      kind: 'usage',
      amount: take.neg(),
      grantId: grant.id,
      idempotencyKey: `settle:${reservation.id}:${grant.id}`,
      note: 'Usage',
    });
    left = left.sub(take);
  }
  if (left.gt(0)) {
    // beyond every grant: the documented bound (actual − reserved) shows as a negative balance
    await insertEntry(tx, at, {
      customerId: reservation.customerId,
      currency: reservation.currency,
      kind: 'usage',
      amount: left.neg(),
      idempotencyKey: `settle:${reservation.id}:overdraw`,
      note: 'Usage beyond the balance (reserve bound)',
    });
  }
}
