import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodText } from '../../src/util/day-text.ts';
import { PortalClient } from '../portal/client.ts';
import { pdfText } from '../support/pdf-text.ts';
import { type InitStack, startInitStack } from './init-stack.ts';
import { ensurePortalBuilt, launchChromium } from './stack.ts';

/**
 * A customer already on Pro (`tollgate init`'s two plans, Free and Pro) opens checkout for a
 * plan: they are led to Change plan instead of a pay form that would refuse them after they
 * typed a card. Their first invoice then states its period the same way everywhere they see it.
 */
const PASSWORD = 'a long and unusual follow-up passphrase';
const EMAIL = 'ada@engines.test';
const WIDTHS = [1280, 390] as const;
const SHOTS = join(process.cwd(), 'docs', 'screenshots');

let stack: InitStack;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
let page: Page;
let client: PortalClient;
let invoiceId = '';

beforeAll(async () => {
  ensurePortalBuilt();
  stack = await startInitStack();
  client = new PortalClient(stack.tollgate.consoleApp, '10.17.0.1');
  await client.signup(EMAIL, 'Analytical Engines', PASSWORD);
  const paid = await client.post('/api/portal/checkout', {
    planKey: 'pro',
    card: { number: '4242424242424242', expiry: '12/30', cvc: '123' },
  });
  expect(paid.status).toBe(201);
  invoiceId = paid.json.invoiceId as string;
  browser = await launchChromium();
  page = browser.page;
  await page.goto(`${stack.consoleUrl}/login`);
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL('**/usage');
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function fitsTheWindow(width: number): Promise<void> {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  expect(scrollWidth, `${page.url()} scrolls sideways at ${width} px`).toBeLessThanOrEqual(clientWidth);
}

describe('checkout for a customer who already has a plan', () => {
  it('checkout for the plan they are on: nothing to pay, a way to their subscription', async () => {
    await page.goto(`${stack.consoleUrl}/checkout?plan=pro`);
    await page.getByRole('heading', { name: 'You are already on Pro' }).waitFor();
    expect(await page.getByLabel('Card number').count()).toBe(0);
    await page.getByRole('link', { name: 'Manage subscription' }).click();
    await page.getByRole('heading', { name: 'Subscription', exact: true }).waitFor();
  }, 120_000);

  it('checkout for another plan shows the change-plan path, whose link opens that change', async () => {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      await page.goto(`${stack.consoleUrl}/checkout?plan=free`);
      const panel = page.getByTestId('checkout-subscribed');
      await panel.getByRole('heading', { name: 'Change to Free' }).waitFor();
      expect(await panel.textContent()).toContain('You are on the Pro plan');
      // No pay form: no card fields, no Pay or Activate button.
      expect(await page.getByLabel('Card number').count()).toBe(0);
      expect(await page.getByRole('button', { name: /^(Pay|Activate|Subscribe)/ }).count()).toBe(0);
      await fitsTheWindow(width);
      await page.screenshot({ path: join(SHOTS, `portal-checkout-subscribed-${width}.png`) });
    }
    await page.getByRole('link', { name: 'Change plan to Free' }).click();
    await page.waitForURL('**/subscription?plan=free');
    const dialog = page.getByRole('dialog', { name: 'Switch to Free' });
    await dialog.getByTestId('proration-preview').waitFor();
    expect(await dialog.textContent()).toContain('Nothing is charged today.');
    await dialog.getByRole('button', { name: 'Schedule change' }).click();
    await page.getByText(/^You will move to Free on /).waitFor();
    const sub = await client.get('/api/portal/subscription');
    expect(sub.json.subscription.plan.key).toBe('pro');
    expect(sub.json.subscription.pendingChange.planKey).toBe('free');
  }, 180_000);
});

describe('the invoice period', () => {
  it('reads the same on the portal invoice page, the printable page, the PDF and both mails', async () => {
    const { invoice } = (await client.get(`/api/portal/invoices/${invoiceId}`)).json;
    const expected = periodText(invoice.periodFrom, invoice.periodTo);
    expect(expected).toMatch(/^\d{1,2} [A-Z][a-z]{2} \d{4} – \d{1,2} [A-Z][a-z]{2} \d{4}$/);

    await page.goto(`${stack.consoleUrl}/invoices/${invoiceId}`);
    const portalLine = page.getByText(/^Period .+ · issued/);
    await portalLine.waitFor();
    const onPortal = /^Period (.+?) · issued/.exec((await portalLine.textContent()) ?? '')?.[1];

    const html = await (
      await page.request.get(`${stack.consoleUrl}/api/portal/invoices/${invoiceId}/html`)
    ).text();
    const onPage = /Period: ([^<]+)<br>/.exec(html)?.[1]?.trim();
    const pdf = pdfText(
      await (await page.request.get(`${stack.consoleUrl}/api/portal/invoices/${invoiceId}/pdf`)).body(),
    );
    const inPdf = pdf.find((t) => t.startsWith('Period: '))?.slice('Period: '.length);

    const issued = await client.waitForMail(EMAIL, /^Invoice /);
    const inInvoiceMail = /for (.+) is ready/.exec(issued.text)?.[1];
    const receipt = await client.waitForMail(EMAIL, /^Receipt for invoice/);
    const inReceipt = /Period: ([^.]+)\./.exec(receipt.text)?.[1];

    expect({ onPortal, onPage, inPdf, inInvoiceMail, inReceipt }).toEqual({
      onPortal: expected,
      onPage: expected,
      inPdf: expected,
      inInvoiceMail: expected,
      inReceipt: expected,
    });
  }, 120_000);
});
