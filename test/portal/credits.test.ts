import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreditAccountView as Account, CreditsView } from '../../src/portal/dependencies.ts';
import { Decimal } from '../../src/util/money.ts';
import { ADMIN_TOKEN, type Stack, startStack } from '../browser/stack.ts';
import { PortalClient } from './client.ts';

/**
 * The portal's Credits page API over the real modules: the balance and ledger an operator's
 * grant leaves, a top-up bought with the card saved at checkout (confirmed by the sandbox's
 * webhook), and what may not buy: bad amounts, no saved card, a declining card, a member. Then
 * auto-recharge set by the owner, read back by the admin API, and bought by the billing run.
 */
let stack: Stack;
let owner: PortalClient;
let member: PortalClient;
let other: PortalClient;
let ownerCustomer: string;
const CARD = { number: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };
const DECLINING = { number: '4000 0000 0000 0002', expiry: '12/30', cvc: '123' };

async function credits(client: PortalClient) {
  const r = await client.get('/api/portal/credits');
  expect(r.status).toBe(200);
  return r.json.credits as CreditsView;
}

async function usd(client: PortalClient): Promise<Account> {
  const account = (await credits(client)).accounts.find((a) => a.currency === 'USD');
  expect(account).toBeDefined();
  return account!;
}

/** Lets the sandbox's confirmations of charges already sent arrive. */
async function settled(): Promise<void> {
  await (stack.tollgate.billing.rail as { drain?: () => Promise<void> }).drain?.();
}

async function adminSettings(customerId: string) {
  const response = await stack.tollgate.consoleApp.request(`/api/admin/credits/${customerId}?currency=USD`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  expect(response.status).toBe(200);
  const { settings } = (await response.json()) as {
    settings: { autoRecharge: { threshold: string; amount: string } | null };
  };
  // The store keeps 8 decimal places ("10.00000000"): the same amounts, compared as amounts.
  const auto = settings.autoRecharge;
  return auto
    ? { threshold: new Decimal(auto.threshold).toFixed(2), amount: new Decimal(auto.amount).toFixed(2) }
    : null;
}

async function adminGrant(customerId: string, body: Record<string, unknown>) {
  const response = await stack.tollgate.consoleApp.request(`/api/admin/credits/${customerId}/grants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(201);
}

beforeAll(async () => {
  stack = await startStack();
  owner = new PortalClient(stack.tollgate.consoleApp, '10.4.0.1');
  other = new PortalClient(stack.tollgate.consoleApp, '10.4.0.2');
  ownerCustomer = (await owner.signup('olga@credits.test', 'Olga Co')).customerId;
  await other.signup('otto@other.test', 'Otto Co');
  expect((await owner.post('/api/portal/checkout', { planKey: 'pro', card: CARD })).status).toBe(201);

  // A member of the owner's organisation, by invitation.
  await owner.post('/api/portal/members/invite', { email: 'mia@credits.test' });
  const mail = await owner.waitForMail('mia@credits.test', /invited you/);
  const token = /token=([\w-]+)/.exec(mail.text)![1]!;
  member = new PortalClient(stack.tollgate.consoleApp, '10.4.0.3');
  await member.get('/api/portal/config');
  const accepted = await member.post('/api/portal/invitations/accept', {
    token,
    name: 'Mia',
    password: 'mias long passphrase',
  });
  expect(accepted.json.user.role).toBe('member');
}, 180_000);
afterAll(async () => stack?.stop());

describe('prepaid credits in the portal', () => {
  it('starts at zero, in the currency of the plan, with the card from checkout to charge', async () => {
    const view = await credits(owner);
    expect(view.defaultCurrency).toBe('USD');
    expect(view.paymentMethod).toMatch(/4242/);
    expect(view.topUpBlocked).toBeNull();
    const account = await usd(owner);
    expect(account).toMatchObject({ balance: '0.00', creditsOnly: false, nextExpiry: null, ledger: [] });
  });

  it("shows an operator's grant: balance, ledger entry with its note and expiry", async () => {
    const expiresAt = new Date(stack.clock.now().getTime() + 30 * 86_400_000).toISOString();
    await adminGrant(ownerCustomer, { amount: '10.00', note: 'Launch credit', expiresAt });
    const account = await usd(owner);
    expect(account.balance).toBe('10.00');
    expect(account.nextExpiry).toEqual({ amount: '10.00', expiresAt });
    expect(account.ledger).toEqual([
      expect.objectContaining({ kind: 'grant', amount: '10', note: 'Launch credit', expiresAt }),
    ]);
  });

  it('buys credits with the saved card: pending until the sandbox confirms, then in the balance', async () => {
    const r = await owner.post('/api/portal/credits/topups', { amount: '25.00' });
    expect([201, 202]).toContain(r.status);
    expect(['paid', 'pending']).toContain(r.json.status);
    await expect.poll(async () => (await usd(owner)).balance, { timeout: 30_000 }).toBe('35.00');
    const ledger = (await usd(owner)).ledger;
    expect(ledger.map((e) => [e.kind, e.amount])).toEqual([
      ['topup', '25'],
      ['grant', '10'],
    ]);
    // Newest first.
    expect(Date.parse(ledger[0]!.createdAt)).toBeGreaterThanOrEqual(Date.parse(ledger[1]!.createdAt));
  });

  it('refuses bad amounts and currencies with 400 naming the field, and buys nothing', async () => {
    const before = await usd(owner);
    const bad: [unknown, string][] = [
      [{ amount: '0' }, 'amount'],
      [{ amount: '0.00' }, 'amount'],
      [{ amount: '-5.00' }, 'amount'],
      [{ amount: 'ten' }, 'amount'],
      [{ amount: '' }, 'amount'],
      [{ amount: '1.001' }, 'amount'],
      [{ amount: '1e3' }, 'amount'],
      [{ amount: '.50' }, 'amount'],
      [{ amount: '10000.01' }, 'amount'],
      [{ amount: 25 }, 'amount'],
      [{}, 'amount'],
      [{ amount: '25.00', currency: 'usd' }, 'currency'],
      [{ amount: '25.00', currency: 'EUR' }, 'currency'],
    ];
    for (const [body, field] of bad) {
      const r = await owner.post('/api/portal/credits/topups', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(r.json.errors.map((e: { path: string }) => e.path)).toEqual([field]);
    }
    await settled();
    const after = await usd(owner);
    expect(after.balance).toBe(before.balance);
    expect(after.ledger).toEqual(before.ledger);
  });

  it('answers 409 without a saved card, and 402 for a saved card that declines', async () => {
    const view = await credits(other);
    expect(view.paymentMethod).toBeNull();
    expect(view.topUpBlocked).toMatch(/payment method/);
    const r = await other.post('/api/portal/credits/topups', { amount: '25.00' });
    expect(r.status).toBe(409);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(r.json.detail).toMatch(/Subscribe to a paid plan/);

    // A checkout declined by the card undoes itself; the card stays saved and declines again.
    const declined = new PortalClient(stack.tollgate.consoleApp, '10.4.0.4');
    await declined.signup('dora@declined.test', 'Dora Co');
    expect((await declined.post('/api/portal/checkout', { planKey: 'pro', card: DECLINING })).status).toBe(
      402,
    );
    const refused = await declined.post('/api/portal/credits/topups', { amount: '25.00' });
    expect(refused.status).toBe(402);
    expect(refused.json.type).toMatch(/card-declined$/);
    await settled();
    expect((await usd(declined)).balance).toBe('0.00');
    expect((await usd(other)).balance).toBe('0.00');
  });

  it("never shows another organisation's credits", async () => {
    const mine = await credits(owner);
    const theirs = await credits(other);
    expect((await usd(owner)).balance).toBe('35.00');
    for (const account of theirs.accounts) {
      expect(account.balance).toBe('0.00');
      expect(account.ledger).toEqual([]);
    }
    const ids = (view: typeof mine) => view.accounts.flatMap((a) => a.ledger.map((e) => JSON.stringify(e)));
    expect(ids(theirs)).toEqual([]);
    expect(ids(mine).length).toBe(2);
  });

  it('lets a member see the balance but not buy; needs a session and the CSRF token', async () => {
    expect((await usd(member)).balance).toBe('35.00');
    const r = await member.post('/api/portal/credits/topups', { amount: '25.00' });
    expect(r.status).toBe(403);
    expect(r.headers.get('content-type')).toBe('application/problem+json');

    const anonymous = new PortalClient(stack.tollgate.consoleApp, '10.4.0.5');
    await anonymous.get('/api/portal/config');
    expect((await anonymous.get('/api/portal/credits')).status).toBe(401);
    owner.csrf = false;
    try {
      expect((await owner.post('/api/portal/credits/topups', { amount: '25.00' })).status).toBe(403);
    } finally {
      owner.csrf = true;
    }
    await settled();
    expect((await usd(owner)).balance).toBe('35.00');
  });
});

describe('auto-recharge in the portal', () => {
  const AUTO = '/api/portal/credits/auto-recharge';

  it('is off until the owner turns it on; changes and turns off; the admin API reads the same', async () => {
    expect((await usd(owner)).autoRecharge).toBeNull();

    const on = await owner.put(AUTO, { enabled: true, threshold: '10', amount: '25.00' });
    expect(on.status).toBe(200);
    // The answer is the Credits view, as GET /api/portal/credits gives it.
    const answered = (on.json.credits as CreditsView).accounts.find((a) => a.currency === 'USD');
    expect(answered?.autoRecharge).toEqual({ threshold: '10.00', amount: '25.00' });
    expect((await usd(owner)).autoRecharge).toEqual({ threshold: '10.00', amount: '25.00' });
    expect(await adminSettings(ownerCustomer)).toEqual({ threshold: '10.00', amount: '25.00' });
    // The members of the organisation see it too.
    expect((await usd(member)).autoRecharge).toEqual({ threshold: '10.00', amount: '25.00' });

    const changed = await owner.put(AUTO, {
      currency: 'USD',
      enabled: true,
      threshold: '0',
      amount: '40.50',
    });
    expect(changed.status).toBe(200);
    expect((await usd(owner)).autoRecharge).toEqual({ threshold: '0.00', amount: '40.50' });
    expect(await adminSettings(ownerCustomer)).toEqual({ threshold: '0.00', amount: '40.50' });

    const off = await owner.put(AUTO, { enabled: false });
    expect(off.status).toBe(200);
    expect((await usd(owner)).autoRecharge).toBeNull();
    expect(await adminSettings(ownerCustomer)).toBeNull();

    // Above the threshold, turning it on buys nothing.
    await settled();
    expect((await usd(owner)).balance).toBe('35.00');
  });

  it('refuses bad values with 400 naming the field, and changes nothing', async () => {
    expect((await owner.put(AUTO, { enabled: true, threshold: '10.00', amount: '25.00' })).status).toBe(200);
    const bad: [unknown, string][] = [
      [{ enabled: true, threshold: '-1.00', amount: '25.00' }, 'threshold'],
      [{ enabled: true, threshold: 'ten', amount: '25.00' }, 'threshold'],
      [{ enabled: true, threshold: '1.001', amount: '25.00' }, 'threshold'],
      [{ enabled: true, threshold: '10000.01', amount: '25.00' }, 'threshold'],
      [{ enabled: true, threshold: 10, amount: '25.00' }, 'threshold'],
      [{ enabled: true, amount: '25.00' }, 'threshold'],
      [{ enabled: true, threshold: '10.00', amount: '0' }, 'amount'],
      [{ enabled: true, threshold: '10.00', amount: '0.00' }, 'amount'],
      [{ enabled: true, threshold: '10.00', amount: '-5.00' }, 'amount'],
      [{ enabled: true, threshold: '10.00', amount: '.50' }, 'amount'],
      [{ enabled: true, threshold: '10.00', amount: '1e3' }, 'amount'],
      [{ enabled: true, threshold: '10.00', amount: '10000.01' }, 'amount'],
      [{ enabled: true, threshold: '10.00' }, 'amount'],
      [{ enabled: false, amount: 'lots' }, 'amount'],
      [{ threshold: '10.00', amount: '25.00' }, 'enabled'],
      [{ enabled: 'yes', threshold: '10.00', amount: '25.00' }, 'enabled'],
      [{ enabled: true, threshold: '10.00', amount: '25.00', currency: 'usd' }, 'currency'],
      [{ enabled: true, threshold: '10.00', amount: '25.00', currency: 'EUR' }, 'currency'],
    ];
    for (const [body, field] of bad) {
      const r = await owner.put(AUTO, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(
        r.json.errors.map((e: { path: string }) => e.path),
        JSON.stringify(body),
      ).toEqual([field]);
    }
    // Both fields wrong: both named at once.
    const both = await owner.put(AUTO, { enabled: true, threshold: 'x', amount: '0' });
    expect(both.json.errors.map((e: { path: string }) => e.path)).toEqual(['threshold', 'amount']);

    expect((await usd(owner)).autoRecharge).toEqual({ threshold: '10.00', amount: '25.00' });
    expect(await adminSettings(ownerCustomer)).toEqual({ threshold: '10.00', amount: '25.00' });
  });

  it('answers 409 without a saved card, and turning it off is always allowed', async () => {
    const r = await other.put(AUTO, { enabled: true, threshold: '10.00', amount: '25.00' });
    expect(r.status).toBe(409);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(r.json.detail).toMatch(/no saved payment method/);
    expect((await usd(other)).autoRecharge).toBeNull();
    expect((await other.put(AUTO, { enabled: false })).status).toBe(200);
  });

  it('is for owners of the organisation, with the CSRF token, and only their own', async () => {
    const r = await member.put(AUTO, { enabled: false });
    expect(r.status).toBe(403);
    expect(r.headers.get('content-type')).toBe('application/problem+json');

    // Another organisation has no way to name this one: the session decides whose settings change.
    const foreign = await other.put(AUTO, {
      enabled: false,
      customerId: ownerCustomer,
    });
    expect(foreign.status).toBe(400);
    expect((await other.put(AUTO, { enabled: false })).status).toBe(200);

    owner.csrf = false;
    try {
      expect((await owner.put(AUTO, { enabled: false })).status).toBe(403);
    } finally {
      owner.csrf = true;
    }
    const anonymous = new PortalClient(stack.tollgate.consoleApp, '10.4.0.6');
    await anonymous.get('/api/portal/config');
    expect((await anonymous.put(AUTO, { enabled: false })).status).toBe(401);

    expect((await usd(owner)).autoRecharge).toEqual({ threshold: '10.00', amount: '25.00' });
    expect(await adminSettings(ownerCustomer)).toEqual({ threshold: '10.00', amount: '25.00' });
  });

  it('buys the top-up with the saved card when an invoice leaves the balance under the threshold', async () => {
    expect((await usd(owner)).balance).toBe('35.00');
    // Checkout paid the first period's fee; the second period's invoice is the first that credits
    // pay. By then the 10.00 grant has expired (the daily sweep books it), and 49.00 takes the
    // 25.00 left, which leaves the balance under 10.00.
    for (const period of [1, 2]) {
      const sub = await stack.tollgate.subscriptions.currentForCustomer(ownerCustomer);
      stack.clock.set(new Date(new Date(sub!.currentPeriod.to).getTime() + 1000));
      await stack.tollgate.billing.runDunning();
      const run = await stack.tollgate.billing.runBilling();
      expect(run.invoicesCreated, `period ${period}`).toBe(1);
    }
    await settled();

    // The sessions have expired meanwhile: log in again (the page loads first, which gives the
    // browser a signed-out CSRF token in place of the expired session's).
    await owner.get('/api/portal/config');
    const login = await owner.post('/api/portal/login', {
      email: 'olga@credits.test',
      password: 'correct horse battery',
    });
    expect(login.status).toBe(200);
    await expect.poll(async () => (await usd(owner)).balance, { timeout: 30_000 }).toBe('25.00');
    const account = await usd(owner);
    expect(account.autoRecharge).toEqual({ threshold: '10.00', amount: '25.00' });
    expect(account.ledger.slice(0, 3).map((e) => [e.kind, new Decimal(e.amount).toFixed(2)])).toEqual([
      ['topup', '25.00'],
      ['usage', '-25.00'],
      ['expiry', '-10.00'],
    ]);
  });
});
