import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, ensurePortalBuilt, launchChromium, type Stack, startStack } from './stack.ts';

/**
 * The whole self-serve journey in a real browser (Debian's chromium, driven by Playwright):
 * sign up → pick Pro → a declined card, a coupon, then the sandbox card → first key → create a key → call
 * the API through the gateway → usage appears → exhaust Pro's quota (429) → upgrade with the
 * prorated amount shown → calls work again → the period's invoice shows the proration.
 */
const SHOTS = join(process.cwd(), 'test-results', 'screenshots');
const DAY = 86_400_000;

let stack: Stack;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
let page: Page;
/** The step the journey is at, for the failure message. */
let stage = 'start';

async function shot(name: string, fullPage = true) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

async function callApi(key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${stack.gatewayUrl}/v1/weather?city=Paris`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  rmSync(join(SHOTS, 'failure.png'), { force: true });
  ensurePortalBuilt();
  stack = await startStack();
  browser = await launchChromium();
  page = browser.page;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('self-serve journey', () => {
  it('takes a new developer from sign up to a paid, prorated invoice', async () => {
    try {
      await journey();
    } catch (error) {
      await shot('failure').catch(() => undefined);
      throw new Error(`journey failed at "${stage}" (${page.url()}): ${(error as Error).message}`);
    }
  }, 400_000);
});

async function journey() {
  const base = stack.consoleUrl;

  // Pricing from the live catalog.
  stage = 'Pricing from the live catalog.';
  await page.goto(`${base}/pricing`);
  await page.getByRole('heading', { name: 'Pro' }).waitFor();
  await page.getByText('$49.00').first().waitFor();
  await page.getByText('$0.50 per 1M').first().waitFor();
  await shot('pricing');

  // Pick Pro → sign up → checkout.
  stage = 'Pick Pro → sign up → checkout.';
  await page.getByRole('link', { name: 'Choose Pro' }).click();
  await page.waitForURL('**/signup?plan=pro');
  await page.getByLabel('Your name').fill('Grace Hopper');
  await page.getByLabel('Organisation').fill('Compilers Inc');
  await page.getByLabel('Work email').fill('grace@compilers.test');
  await page.getByLabel('Password').fill('a long and careful passphrase');
  await shot('signup');
  await page.getByRole('button', { name: 'Create account' }).click();
  // The same answer for every address: the account comes with the link mailed to it, read here
  // from the dev mailbox (`tollgate dev` without SMTP).
  await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
  await shot('signup-check-inbox');
  await page.getByRole('link', { name: 'dev mailbox', exact: true }).click();
  await page
    .getByRole('article', { name: /^Confirm your email address/ })
    .getByRole('link', { name: /\/verify\?token=/ })
    .click();
  await page.getByRole('button', { name: 'Confirm and log in' }).click();
  await page.waitForURL('**/checkout?plan=pro');

  // A declined card is shown clearly and creates nothing.
  stage = 'A declined card is shown clearly and creates nothing.';
  await page.getByLabel('Card number').fill('4000 0000 0000 0002');
  await page.getByLabel('Expiry (MM/YY)').fill('12/30');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: /Pay \$49\.00/ }).click();
  await page.getByText('Your card was declined', { exact: false }).first().waitFor();
  await shot('checkout-declined');
  const customerId = (await (await page.request.get(`${base}/api/portal/me`)).json()).user
    .customerId as string;
  expect(await stack.tollgate.subscriptions.currentForCustomer(customerId)).toBeNull();

  // A coupon at checkout: a wrong code is refused, a good one shows the discount before paying.
  stage = 'A coupon at checkout.';
  await stack.tollgate.billing.discounts.createCoupon({
    code: 'WELCOME10',
    amountOff: '10.00',
    currency: 'USD',
    duration: 'once',
  });
  await page.getByLabel('Coupon').fill('NOPE');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('No coupon "NOPE"').waitFor();
  await page.getByLabel('Coupon').fill('welcome10');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page
    .getByTestId('coupon-discount')
    .getByText(/\$10\.00/)
    .waitFor();
  expect(await page.getByTestId('due-today').textContent()).toBe('$39.00');
  await shot('checkout-coupon');

  // The sandbox card succeeds: subscription active, first key shown once.
  stage = 'The sandbox card succeeds: subscription active, first key shown once.';
  await page.getByLabel('Card number').fill('4242 4242 4242 4242');
  await page.getByRole('button', { name: /Pay \$39\.00/ }).click();
  await page.getByTestId('checkout-success').waitFor();
  const firstKey = (await page.getByTestId('secret').textContent())?.trim() ?? '';
  expect(firstKey).toMatch(/^tg_/);
  await shot('checkout-success');

  // Create a key of our own on the keys page.
  stage = 'Create a key of our own on the keys page.';
  await page.getByRole('link', { name: 'Go to dashboard' }).click();
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByLabel('Name').fill('Production');
  await page.getByRole('form', { name: 'New key' }).getByRole('button', { name: 'Create key' }).click();
  await page.getByText('Key “Production” created').waitFor();
  const key = (await page.getByTestId('secret').textContent())?.trim() ?? '';
  expect(key).toMatch(/^tg_/);
  expect(key).not.toBe(firstKey);
  await shot('keys');

  // The API reference fills its examples with the new key.
  const primary = page.getByRole('navigation', { name: 'Primary' });
  await primary.getByRole('link', { name: 'API reference' }).click();
  await page.getByText(`Bearer ${key}`).first().waitFor();
  await shot('docs', false);
  await primary.getByRole('link', { name: 'Dashboard' }).click();

  // Call the API through the gateway with it.
  stage = 'Call the API through the gateway with it.';
  const first = await callApi(key);
  expect(first.status).toBe(200);
  expect(first.body.city).toBe('Paris');

  // Usage appears in the portal within seconds (auto-refresh).
  stage = 'Usage appears in the portal within seconds (auto-refresh).';
  await page.getByRole('link', { name: 'Usage' }).click();
  await expect
    .poll(async () => (await page.getByTestId('usage-total').textContent())?.trim(), { timeout: 60_000 })
    .toBe('1');
  await page.getByTestId('usage-chart').waitFor();
  await page.getByTestId('quota-api_requests').getByText('1 of 5').waitFor();

  // Exhaust Pro's quota of 5: the sixth call is refused with 429.
  stage = "Exhaust Pro's quota of 5: the sixth call is refused with 429.";
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await callApi(key)).status);
  expect(statuses.slice(0, 4)).toEqual([200, 200, 200, 200]);
  expect(statuses[5]).toBe(429);
  const refused = await fetch(`${stack.gatewayUrl}/v1/weather?city=Paris`, {
    headers: { authorization: `Bearer ${key}` },
  });
  expect(refused.status).toBe(429);
  expect(refused.headers.get('content-type')).toBe('application/problem+json');
  const problem = (await refused.json()) as { upgradeUrl?: string };
  expect(problem.upgradeUrl).toContain(stack.consoleUrl);
  await expect
    .poll(async () => (await page.getByTestId('usage-total').textContent())?.trim(), { timeout: 60_000 })
    .toBe('5');
  await shot('usage');

  // Ten days later: upgrade to Growth, with the prorated amount shown before confirming.
  stage = 'Ten days later: upgrade to Growth, with the prorated amount shown before confirming.';
  stack.clock.advance(10 * DAY);
  // The 429's upgrade link leads to the subscription page.
  await page.goto(problem.upgradeUrl!);
  await page.waitForURL('**/subscription');
  await page.getByRole('button', { name: 'Upgrade to Growth' }).click();
  const preview = page.getByTestId('proration-preview');
  await preview.waitFor();
  const previewText = (await preview.textContent()) ?? '';
  expect(previewText).toMatch(/Unused time on Pro subscription/);
  expect(previewText).toMatch(/Remaining time on Growth subscription/);
  await shot('upgrade-preview', false);
  await page.getByRole('button', { name: 'Upgrade now' }).click();
  await page.getByText('You are now on Growth.').waitFor();
  await shot('subscription');

  // Calls work again.
  stage = 'Calls work again.';
  await expect.poll(async () => (await callApi(key)).status, { timeout: 60_000 }).toBe(200);

  // Growth includes chat: its tokens are metered by model and priced per 1M.
  stage = 'AI tokens appear by model.';
  const chat = await fetch(`${stack.gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'tg-small',
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    }),
  });
  expect(chat.status).toBe(200);
  await page.getByRole('link', { name: 'Usage' }).click();
  await page.getByLabel('Meter').selectOption('tokens');
  await page.getByRole('button', { name: 'Daily' }).click();
  await page.getByRole('button', { name: 'By model' }).click();
  await page.getByTestId('usage-chart').getByText('tg-small').waitFor();
  await shot('usage-tokens');

  // The period ends: the billing run invoices it, proration included.
  stage = 'The period ends: the billing run invoices it, proration included.';
  const sub = await stack.tollgate.subscriptions.currentForCustomer(customerId);
  stack.clock.set(new Date(new Date(sub!.currentPeriod.to).getTime() + 1000));
  await stack.tollgate.billing.runBilling();
  // The session is 14 days old by now: log in again.
  stage = 'The session is 14 days old by now: log in again.';
  await page.goto(`${base}/invoices`);
  await page.waitForURL('**/login?**');
  await page.getByLabel('Email').fill('grace@compilers.test');
  await page.getByLabel('Password').fill('a long and careful passphrase');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL('**/invoices');
  await page.getByRole('heading', { name: 'Invoices' }).waitFor();
  const rows = page.locator('tbody tr');
  await expect.poll(() => rows.count(), { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
  await shot('invoices');
  await rows.first().getByRole('link').click();
  const lines = page.getByTestId('invoice-lines');
  await lines.waitFor();
  const text = (await lines.textContent()) ?? '';
  expect(text).toMatch(/Unused time on Pro subscription/);
  expect(text).toMatch(/Remaining time on Growth subscription/);
  await shot('invoice');
  // The checkout invoice shows the coupon as its own line.
  await page.goto(`${base}/invoices`);
  await rows.filter({ hasText: '$39.00' }).first().getByRole('link').click();
  await lines.waitFor();
  expect((await lines.textContent()) ?? '').toMatch(/Coupon WELCOME10 \(10\.00 USD off\)/);

  // Budget alerts, members and the admin console.
  await page.getByRole('link', { name: 'Budget alerts' }).click();
  await page.getByLabel(/Alert when spend/).fill('100.00');
  await page.getByRole('button', { name: 'Add alert' }).click();
  await page.getByText('Spend reaches $100.00').waitFor();
  await shot('budget');
  // Prepaid credits: buy a preset with the card saved at checkout.
  stage = 'Prepaid credits.';
  await page.getByRole('link', { name: 'Credits' }).click();
  await page.getByRole('heading', { name: 'Credits', exact: true }).waitFor();
  await page.getByRole('button', { name: '$25.00', exact: true }).click();
  await page.getByRole('button', { name: 'Buy $25.00' }).click();
  await page.getByTestId('credit-balance-USD').getByText('$25.00').waitFor();
  await shot('credits');
  // Auto-recharge on, with the suggested threshold and amount.
  await page.getByRole('switch', { name: 'Recharge automatically' }).check();
  await page.getByRole('button', { name: 'Save auto-recharge' }).click();
  await page.getByText('Auto-recharge is on.').waitFor();
  await shot('credits-auto-recharge');
  await page.getByRole('link', { name: 'Members' }).click();
  await page.getByLabel('Email').fill('linus@compilers.test');
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await page.getByText('linus@compilers.test').first().waitFor();
  await shot('members');
  await page.goto(`${base}/admin`);
  await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Open console' }).click();
  await page.getByText('Compilers Inc').first().waitFor();
  await shot('admin');

  // A phone-width look at the dashboard.
  stage = 'A phone-width look at the dashboard.';
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/usage`);
  await page.getByRole('heading', { name: 'Usage & cost' }).waitFor();
  await shot('usage-phone');
  await page.goto(`${base}/credits`);
  await page.getByTestId('credit-balance-USD').waitFor();
  await shot('credits-phone');
  await page.goto(`${base}/pricing`);
  await page.getByRole('heading', { name: 'Pro' }).waitFor();
  await shot('pricing-phone', false);
}
