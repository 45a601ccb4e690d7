import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journeyConfig, type Stack, startStack } from '../browser/stack.ts';
import { PortalClient } from '../portal/client.ts';

/**
 * Issue 13, "Config as a live value that every module reads", for the portal's checkout: its
 * billing adapters read `billing.rail` once at start, so after a `tollgate dev` reload that
 * switched the rail, the portal still said the old rail in `/api/portal/config` and checked out
 * as on the old rail (no card asked on the sandbox). Here the config is reloaded as `tollgate dev`
 * does on a file change, and the portal's answers follow the new rail at once.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ billing: { rail: { type: 'invoice', netDays: 30 } } });
}, 180_000);
afterAll(async () => stack?.stop());

describe('the portal after a config reload that switches the rail', () => {
  it('invoice → sandbox: the portal reports the sandbox and asks for a card at checkout', async () => {
    const before = new PortalClient(stack.tollgate.consoleApp, '10.13.0.1');
    await before.signup('ivy@invoice-rail.test', 'Invoice Rail Co');
    expect((await before.get('/api/portal/config')).json.rail).toBe('invoice');
    // On the invoice rail no card is needed: the checkout subscribes and issues an invoice.
    const invoiced = await before.post('/api/portal/checkout', { planKey: 'pro' });
    expect(invoiced.status).toBe(201);
    expect(invoiced.json.status).toBe('active');

    await stack.tollgate.reloadConfig(journeyConfig(stack.upstream.url, { rail: 'sandbox' }));

    const after = new PortalClient(stack.tollgate.consoleApp, '10.13.0.2');
    const user = await after.signup('sam@sandbox-rail.test', 'Sandbox Rail Co');
    expect((await after.get('/api/portal/config')).json.rail).toBe('sandbox');
    const refused = await after.post('/api/portal/checkout', { planKey: 'pro' });
    expect(refused.status).toBe(400);
    expect(refused.json.detail).toContain('Enter a card');
    // Refused before anything was created.
    expect(await stack.tollgate.subscriptions.currentForCustomer(user.customerId)).toBeNull();

    const paid = await after.post('/api/portal/checkout', {
      planKey: 'pro',
      card: { number: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' },
    });
    expect(paid.status).toBe(201);
    expect(paid.json.status).toBe('active');
  }, 180_000);
});
