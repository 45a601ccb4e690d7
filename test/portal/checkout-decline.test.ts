import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../browser/stack.ts';
import { PortalClient } from './client.ts';

/**
 * Checkout consistency on the sandbox rail: the first charge is made after the subscription is
 * created, so a declined card must undo it (invoice void, subscription canceled, no key) and a
 * retry with a good card must work.
 */
let stack: Stack;
const DECLINING = { number: '4000 0000 0000 0002', expiry: '12/30', cvc: '123' };
const GOOD = { number: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };

beforeAll(async () => {
  stack = await startStack();
}, 180_000);
afterAll(async () => stack?.stop());

describe('portal checkout with a declined card', () => {
  it('leaves no subscription, no key and nothing to pay; a retry with 4242 succeeds', async () => {
    const client = new PortalClient(stack.tollgate.consoleApp, '10.3.0.1');
    const user = await client.signup('dora@declines.test', 'Declines Co');

    const declined = await client.post('/api/portal/checkout', { planKey: 'pro', card: DECLINING });
    expect(declined.status).toBe(402);
    expect(declined.json.type).toBe('https://tollgate.dev/problems/card-declined');
    expect(declined.json.detail).toContain('Your card was declined');
    expect(declined.json.detail).not.toContain('card_declined'); // the code is for operators

    expect((await client.get('/api/portal/subscription')).json.subscription).toBeNull();
    expect(await stack.tollgate.subscriptions.currentForCustomer(user.customerId)).toBeNull();
    expect((await client.get('/api/portal/keys')).json.keys).toEqual([]);
    const invoices = (await client.get('/api/portal/invoices')).json.invoices as {
      status: string;
      amountDue: string;
    }[];
    // The undone checkout's invoice is void (kept for gapless numbering), not shown in the portal.
    expect(invoices).toEqual([]);
    // Dunning finds nothing to charge for this customer.
    await stack.tollgate.billing.runDunning();
    const all = await stack.tollgate.billing.list({ customerId: user.customerId });
    expect(all.map((i) => i.status)).toEqual(['void']);

    const paid = await client.post('/api/portal/checkout', { planKey: 'pro', card: GOOD });
    expect(paid.status).toBe(201);
    expect(paid.json.status).toBe('active');
    expect(paid.json.firstKey.secret).toMatch(/^tg_/);
    const sub = await stack.tollgate.subscriptions.currentForCustomer(user.customerId);
    expect(sub).toMatchObject({ planKey: 'pro', status: 'active' });
    await expect
      .poll(
        async () => (await client.get(`/api/portal/invoices/${paid.json.invoiceId}`)).json.invoice.status,
        {
          timeout: 30_000,
        },
      )
      .toBe('paid');
    expect((await client.get('/api/portal/keys')).json.keys).toHaveLength(1);

    // At the end of the period the billing run bills the new subscription, never the undone one.
    const undone = all[0]!.subscriptionId;
    stack.clock.set(new Date(new Date(sub!.currentPeriod.to).getTime() + 1000));
    await stack.tollgate.billing.runBilling();
    const after = await stack.tollgate.billing.list({ customerId: user.customerId });
    expect(after.filter((i) => i.subscriptionId === undone).map((i) => i.status)).toEqual(['void']);
    expect(after.filter((i) => i.subscriptionId === sub!.id).length).toBeGreaterThanOrEqual(2);
  });
});
