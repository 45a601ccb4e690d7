import { sql } from 'kysely';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import type { Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';
import { Decimal } from '../../src/util/money.ts';
import { accessCard, testFeatures, testMeters, tokensFeature } from '../support/catalog.ts';
import { openTestPostgres } from '../support/postgres.ts';
import { startTestTollgate } from '../support/tollgate.ts';
import { openHarness } from './harness.ts';

/**
 * Credits-only customers through the real gateway: every call reserves its most expensive
 * outcome before it reaches the upstream and is settled with what it used, so the prepaid balance
 * moves with every call, a call the balance cannot cover is refused with 402, and calls at the
 * same time cannot spend the same credit twice.
 */
let upstream: DemoUpstream;
let tollgate: Tollgate;

const INPUT_PRICE = '0.01';
const OUTPUT_PRICE = '0.02';
const REQUEST_PRICE = '0.05';

beforeAll(async () => {
  upstream = await startDemoUpstream(0);
  const config = resolveConfig(
    {
      upstream: upstream.url,
      routes: [
        { method: 'POST', path: '/v1/chat/completions', feature: 'chat', models: { 'tg-large': 'chat' } },
        { method: 'GET', path: '/v1/weather', feature: 'api_requests' },
      ],
      meters: [testMeters.requests, testMeters.tokens],
      features: [
        testFeatures.chat,
        {
          ...testFeatures.api_requests,
          name: 'Weather requests',
          meterGroupByFilters: { route: '/v1/weather' },
        },
        tokensFeature('input_tokens', 'Input tokens', { type: 'input' }),
        tokensFeature('output_tokens', 'Output tokens', { type: 'output' }),
      ],
      plans: [
        {
          key: 'prepaid',
          name: 'Prepaid',
          rateCards: [
            accessCard('chat'),
            { key: 'weather', feature: 'api_requests', price: { type: 'unit', amount: REQUEST_PRICE } },
            { key: 'input', feature: 'input_tokens', price: { type: 'unit', amount: INPUT_PRICE } },
            { key: 'output', feature: 'output_tokens', price: { type: 'unit', amount: OUTPUT_PRICE } },
          ],
        },
      ],
    },
    'credits-gateway.config.ts',
    '/tmp',
  );
  tollgate = await startTestTollgate(config, 'credits-gateway');
});

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
});

async function prepaidCustomer(name: string, balance: string, creditsOnly = true) {
  const customer = await tollgate.customers.create({ name });
  const subscription = await tollgate.subscriptions.subscribe({
    customerId: customer.id,
    planKey: 'prepaid',
  });
  const { secret } = await tollgate.keys.create({ customerId: customer.id, subscriptionId: subscription.id });
  const credits = tollgate.billing.credits;
  await credits.configure({ customerId: customer.id, currency: 'USD', creditsOnly });
  await credits.grant({ customerId: customer.id, currency: 'USD', amount: balance, note: 'Prepaid' });
  return { customer, secret };
}

const chatBody = JSON.stringify({
  model: 'tg-large',
  max_tokens: 40,
  messages: [{ role: 'user', content: 'tell me about the weather today' }],
});

async function chat(secret: string) {
  const res = await request(`${tollgate.gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: chatBody,
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

async function weather(secret: string) {
  const res = await request(`${tollgate.gatewayUrl}/v1/weather?city=Paris`, {
    headers: { authorization: `Bearer ${secret}` },
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

/** Settlement runs after the response: waits until no reservation is open. */
async function settled(customerId: string) {
  for (let i = 0; i < 200; i++) {
    const ledger = await tollgate.billing.credits.ledger(customerId);
    const open =
      ledger.filter((e) => e.kind === 'reservation').length -
      ledger.filter((e) => e.kind === 'release' && e.note === 'Reservation settled').length;
    if (open === 0) return ledger;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('reservations were not settled');
}

// The most a call can cost: its body as input tokens and max_tokens as output tokens.
const reservePerCall = new Decimal(Buffer.byteLength(chatBody))
  .mul(INPUT_PRICE)
  .add(new Decimal(40).mul(OUTPUT_PRICE));

describe('credits-only customers at the gateway', () => {
  it('reserve before an AI call, book its tokens after it, and get 402 once the balance cannot cover a call', async () => {
    const { customer, secret } = await prepaidCustomer('Prepaid AI', reservePerCall.mul(2).toFixed(2));
    const first = await chat(secret);
    expect(first.status).toBe(200);
    const usage = first.body.usage as { prompt_tokens: number; completion_tokens: number };
    const cost = new Decimal(usage.prompt_tokens)
      .mul(INPUT_PRICE)
      .add(new Decimal(usage.completion_tokens).mul(OUTPUT_PRICE));
    const ledger = await settled(customer.id);
    expect(ledger.map((e) => [e.kind, e.amount])).toEqual([
      [
        'grant',
        reservePerCall
          .mul(2)
          .toFixed(2)
          .replace(/\.?0+$/, ''),
      ],
      ['reservation', reservePerCall.neg().toString()],
      ['release', reservePerCall.toString()],
      ['usage', cost.neg().toString()],
    ]);
    expect(await tollgate.billing.credits.balance(customer.id, 'USD')).toBe(
      reservePerCall.mul(2).sub(cost).toFixed(2),
    );

    // Calls go on while the balance covers one more call's reservation.
    let calls = 1;
    for (;;) {
      const next = await chat(secret);
      if (next.status !== 200) {
        expect(next.status).toBe(402);
        expect(next.body).toMatchObject({
          type: 'https://tollgate.dev/problems/credits-exhausted',
          currency: 'USD',
          reserve: reservePerCall.toString(),
        });
        break;
      }
      calls++;
      await settled(customer.id);
      expect(calls).toBeLessThan(20);
    }
    const balance = new Decimal(await tollgate.billing.credits.balance(customer.id, 'USD'));
    expect(balance.toFixed(2)).toBe(reservePerCall.mul(2).sub(cost.mul(calls)).toFixed(2));
    expect(balance.lt(reservePerCall)).toBe(true);
    expect(balance.gte(0)).toBe(true);
  });

  it('concurrent calls cannot spend the same credit: each one in flight holds its reservation', async () => {
    const balance = reservePerCall.mul(3).add('0.01');
    const { customer, secret } = await prepaidCustomer('Prepaid burst', balance.toFixed(2));
    const results = await Promise.all(Array.from({ length: 12 }, () => chat(secret)));
    const ok = results.filter((r) => r.status === 200).length;
    expect(results.filter((r) => r.status === 402)).toHaveLength(12 - ok);
    // At most as many calls as reservations fit in the balance went through (some may have been
    // settled while others queued, so later calls saw their reservation returned).
    expect(ok).toBeGreaterThanOrEqual(3);
    expect(ok).toBeLessThan(12); // twelve calls cost more than the balance
    const ledger = await settled(customer.id);
    expect(ledger.filter((e) => e.kind === 'reservation')).toHaveLength(ok);
    const left = new Decimal(await tollgate.billing.credits.balance(customer.id, 'USD'));
    expect(left.gte(0)).toBe(true); // max_tokens bounds every call: no overdraw at all
    expect(ledger.some((e) => e.note === 'Usage beyond the balance (reserve bound)')).toBe(false);
  });

  it('book the request price on request-priced routes', async () => {
    const { customer, secret } = await prepaidCustomer('Prepaid weather', '0.12');
    expect((await weather(secret)).status).toBe(200);
    await settled(customer.id);
    expect((await weather(secret)).status).toBe(200);
    await settled(customer.id);
    expect(await tollgate.billing.credits.balance(customer.id, 'USD')).toBe('0.02');
    const refused = await weather(secret);
    expect(refused.status).toBe(402);
    expect(refused.body).toMatchObject({ type: 'https://tollgate.dev/problems/credits-exhausted' });
    const ledger = await settled(customer.id);
    expect(ledger.filter((e) => e.kind === 'usage').map((e) => e.amount)).toEqual(['-0.05', '-0.05']);
  });

  it('recharge automatically when real-time usage takes the balance under the threshold', async () => {
    const { customer, secret } = await prepaidCustomer('Prepaid recharge', '0.12');
    await tollgate.billing.attachCard(customer.id, '4242424242424242');
    await tollgate.billing.credits.configure({
      customerId: customer.id,
      currency: 'USD',
      autoRecharge: { threshold: '0.10', amount: '1.00' },
    });
    expect((await weather(secret)).status).toBe(200); // 0.12 − 0.05 = 0.07 < 0.10 → buys 1.00
    await settled(customer.id);
    await expect
      .poll(() => tollgate.billing.credits.balance(customer.id, 'USD'), { timeout: 30_000 })
      .toBe('1.07');
    // Without the top-up the second and third calls would be refused (0.07 left).
    for (let i = 0; i < 3; i++) {
      expect((await weather(secret)).status).toBe(200);
      await settled(customer.id);
    }
    expect(await tollgate.billing.credits.balance(customer.id, 'USD')).toBe('0.92');
    const ledger = await tollgate.billing.credits.ledger(customer.id);
    expect(ledger.filter((e) => e.kind === 'topup').map((e) => e.amount)).toEqual(['1']);
  });

  it('leave customers who are not credits-only alone: no reservation, no ledger rows', async () => {
    const { customer, secret } = await prepaidCustomer('Pay as you go', '1.00', false);
    expect((await chat(secret)).status).toBe(200);
    expect((await weather(secret)).status).toBe(200);
    expect((await tollgate.billing.credits.ledger(customer.id)).map((e) => e.kind)).toEqual(['grant']);
  });
});

describe('reservations on PostgreSQL', () => {
  it('taken from many connections at once, never add up to more than the balance', async () => {
    const pg = await openTestPostgres();
    try {
      const h = await openHarness({ store: pg.store });
      const customer = await h.customers.create({ name: 'Burst', email: 'burst@example.com' });
      const credits = h.billing.service.credits;
      await credits.configure({ customerId: customer.id, currency: 'USD', creditsOnly: true });
      await credits.grant({ customerId: customer.id, currency: 'USD', amount: '5.00' });
      // Every pooled connection open first, so the reservations really run side by side.
      await Promise.all(
        Array.from({ length: 10 }, () =>
          pg.store.db.transaction().execute((tx) => sql`select pg_sleep(0.05)`.execute(tx)),
        ),
      );
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () =>
          credits.reserve({ customerId: customer.id, currency: 'USD', amount: '1.00' }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
      expect(
        results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.status),
      ).toEqual(Array(15).fill(402));
      expect(await credits.balance(customer.id, 'USD')).toBe('0.00');
    } finally {
      await pg.drop();
    }
  });
});
