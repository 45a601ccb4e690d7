import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortalClient } from '../portal/client.ts';
import { type InitStack, startInitStack } from './init-stack.ts';
import { ensurePortalBuilt, launchChromium } from './stack.ts';

/**
 * Issue 16's portal items, as a new user of `tollgate init`'s two plans sees them at desktop
 * (1280 px) and phone (390 px) widths. Every page looked at must fit the phone: the page itself
 * never scrolls sideways (a table may scroll inside its own box).
 */
const PASSWORD = 'a long and unusual polish passphrase';
const WIDTHS = [1280, 390] as const;

let stack: InitStack;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
let page: Page;
/** Set by the checkout test: the paying customer's first key and invoice. */
let firstKey = '';
let invoiceId = '';

beforeAll(async () => {
  ensurePortalBuilt();
  stack = await startInitStack();
  browser = await launchChromium();
  page = browser.page;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

/** Runs `look` at each width, then checks that the page is no wider than the window. */
async function atBothWidths(look: (width: number) => Promise<void>): Promise<void> {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    await look(width);
    const { scrollWidth, clientWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
    }));
    expect(scrollWidth, `${page.url()} scrolls sideways at ${width} px`).toBeLessThanOrEqual(clientWidth);
  }
}

/** The right edge of an element, to tell whether it is inside a 390 px window. */
async function rightEdge(selector: ReturnType<Page['locator']>): Promise<number> {
  const box = await selector.boundingBox();
  if (!box) throw new Error('element not shown');
  return box.x + box.width;
}

const mainText = async () => (await page.locator('main').textContent()) ?? '';

describe('portal polish (issue 16)', () => {
  it('home: "Start free" when a Free plan exists, paid plans from the cheapest price', async () => {
    await atBothWidths(async () => {
      await page.goto(`${stack.consoleUrl}/`);
      await page.getByRole('heading', { name: 'Hello API' }).waitFor();
      await page.getByText('Start free; paid plans from $29.00 a month.').waitFor();
    });
  }, 120_000);

  it('pricing: the Compare plans table is whole on a phone; no token-price note without token prices', async () => {
    await atBothWidths(async (width) => {
      await page.goto(`${stack.consoleUrl}/pricing`);
      const compare = page
        .getByRole('table')
        .filter({ has: page.getByRole('columnheader', { name: 'Pro' }) });
      await compare.waitFor();
      // Both plans' columns are inside the window, not cut off at its edge.
      expect(await rightEdge(compare.getByRole('columnheader', { name: 'Pro' }))).toBeLessThanOrEqual(width);
      expect(await rightEdge(compare.getByRole('cell', { name: '$29.00 / month' }))).toBeLessThanOrEqual(
        width,
      );
      expect(await mainText()).not.toMatch(/token/i);
    });
  }, 120_000);

  it('sign-up, check your inbox and the mailed link name the plan ("Pro"), not its key', async () => {
    await atBothWidths(async () => {
      await page.goto(`${stack.consoleUrl}/signup?plan=pro`);
      await page.getByText('then subscribe to Pro.').waitFor();
      expect(await mainText()).not.toContain('subscribe to pro');
    });
    await page.getByLabel('Your name').fill('Ada Lovelace');
    await page.getByLabel('Organisation').fill('Analytical Engines');
    await page.getByLabel('Work email').fill('ada@engines.test');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await atBothWidths(async () => {
      await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
      expect(await mainText()).toContain('to finish creating your account and subscribe to Pro.');
    });
    await page.getByRole('link', { name: 'dev mailbox', exact: true }).click();
    await page
      .getByRole('article', { name: /^Confirm your email address/ })
      .getByRole('link', { name: /\/verify\?token=/ })
      .click();
    await atBothWidths(async () => {
      await page.getByRole('heading', { name: 'Confirm your email address' }).waitFor();
      expect(await mainText()).not.toMatch(/\bpro\b/);
    });
    await page.getByRole('button', { name: 'Confirm and log in' }).click();
    await page.waitForURL('**/checkout?plan=pro');
    await page.getByRole('cell', { name: 'Pro plan' }).waitFor();
  }, 180_000);

  it('checkout: placeholders cannot pass for values; a decline reads as a sentence, not a code', async () => {
    await atBothWidths(async () => {
      await page.getByLabel('Card number').waitFor();
      // A sandbox test card or a plausible date in grey looks filled in.
      expect(await page.getByLabel('Card number').getAttribute('placeholder')).not.toMatch(/4242|0002/);
      expect(await page.getByLabel('Expiry (MM/YY)').getAttribute('placeholder')).not.toMatch(/\d/);
      expect(await page.getByLabel('CVC').getAttribute('placeholder')).not.toMatch(/\d/);
    });
    await page.getByLabel('Card number').fill('4000 0000 0000 0002');
    await page.getByLabel('Expiry (MM/YY)').fill('12/30');
    await page.getByLabel('CVC').fill('123');
    await page.getByRole('button', { name: 'Pay $29.00 and subscribe' }).click();
    const declined = page.getByRole('alert').filter({ hasText: 'Payment declined' });
    await atBothWidths(async () => {
      await declined.waitFor();
      expect(await declined.textContent()).toContain('Your card was declined. Nothing was charged');
      expect(await mainText()).not.toMatch(/card_declined|_declined/);
    });
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByRole('button', { name: 'Pay $29.00 and subscribe' }).click();
    await page.getByTestId('checkout-success').waitFor();
    firstKey = ((await page.getByTestId('secret').textContent()) ?? '').trim();
    // Sandbox payments make test keys.
    expect(firstKey).toMatch(/^tg_test_\w{20,}$/);
    const invoices = await (await page.request.get(`${stack.consoleUrl}/api/portal/invoices`)).json();
    invoiceId = (invoices.invoices as { id: string; status: string }[]).find((i) => i.status === 'paid')!.id;
  }, 180_000);

  it('a signed-in customer is offered neither the dev mailbox nor the admin console', async () => {
    for (const path of ['/usage', '/keys', '/pricing', '/docs']) {
      await atBothWidths(async (width) => {
        await page.goto(`${stack.consoleUrl}${path}`);
        await page
          .getByRole('button', { name: 'Log out' })
          .or(page.getByRole('button', { name: 'Menu' }))
          .first()
          .waitFor();
        if (width === 390) await page.getByRole('button', { name: 'Menu' }).click();
        await page.getByRole('link', { name: 'Pricing' }).first().waitFor();
        expect(await page.getByRole('link', { name: /mailbox|admin/i }).count()).toBe(0);
      });
    }
  }, 180_000);

  it('keys: one "Create key" button at a time, and the page fits a phone', async () => {
    await atBothWidths(async () => {
      await page.goto(`${stack.consoleUrl}/keys`);
      await page.getByRole('cell', { name: /Default key/ }).waitFor();
      const createButtons = page.getByRole('button', { name: 'Create key' });
      expect(await createButtons.count()).toBe(1);
      await createButtons.click();
      await page.getByRole('form', { name: 'New key' }).waitFor();
      expect(await createButtons.count()).toBe(1);
      await page.getByRole('button', { name: 'Cancel' }).click();
    });
  }, 120_000);

  it('API reference: the curl example works when pasted, never with a truncated key', async () => {
    let example = '';
    await atBothWidths(async (width) => {
      // A page load forgets full keys (they are shown once): the example reads it from $API_KEY.
      await page.goto(`${stack.consoleUrl}/docs`);
      const code = page.locator('pre.code').first();
      await code.getByText('curl').waitFor();
      example = (await code.textContent()) ?? '';
      expect(example).not.toContain('…');
      expect(example).toContain('"Authorization: Bearer $API_KEY"');
      if (width === 390) {
        // On a phone the lines are wider than the window: Copy sits under the code, not on it.
        const copy = await page
          .locator('.code-wrap')
          .first()
          .getByRole('button', { name: 'Copy' })
          .boundingBox();
        const box = await code.boundingBox();
        expect(copy!.y).toBeGreaterThanOrEqual(box!.y + box!.height);
      }
    });
    // Run as a shell would after `export API_KEY=<the key>`.
    const url = /curl '([^']+)'/.exec(example)?.[1] ?? '';
    const key = /Bearer (\S+?)["']/.exec(example)?.[1]?.replace('$API_KEY', firstKey) ?? '';
    expect((await fetch(url, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
  }, 120_000);

  it('printable invoice: unit price as money beside the amount, dates for people, whole on a phone', async () => {
    await atBothWidths(async (width) => {
      await page.goto(`${stack.consoleUrl}/api/portal/invoices/${invoiceId}/html`);
      const row = page.getByRole('row', { name: /Pro subscription/ });
      expect(await row.getByRole('cell').allTextContents()).toEqual([
        expect.stringContaining('Pro subscription'),
        '1',
        '29.00 USD',
        '29.00 USD',
      ]);
      const text = (await page.locator('body').textContent()) ?? '';
      expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}/);
      expect(text).toMatch(/Issued: \d{1,2} [A-Z][a-z]{2} \d{4}/);
      expect(await rightEdge(page.getByRole('columnheader', { name: 'Amount' }))).toBeLessThanOrEqual(width);
      expect(await rightEdge(row.getByRole('cell').last())).toBeLessThanOrEqual(width);
    });
  }, 120_000);

  it('429: an upgrade link for Free, none for Pro (the top plan)', async () => {
    const call = (key: string) =>
      fetch(`${stack.gatewayUrl}/hello`, { headers: { authorization: `Bearer ${key}` } });
    const refusal = async (key: string) => {
      for (let i = 0; i < 10; i++) {
        const response = await call(key);
        if (response.status === 429) return (await response.json()) as Record<string, unknown>;
        expect(response.status).toBe(200);
      }
      throw new Error('no 429 within 10 calls');
    };
    const onPro = await refusal(firstKey);
    expect(onPro.type).toBe('https://tollgate.dev/problems/rate-limited');
    expect(onPro).not.toHaveProperty('upgradeUrl');

    const free = new PortalClient(stack.tollgate.consoleApp, '10.16.0.2');
    await free.signup('grace@compilers.test', 'Compilers Inc', PASSWORD);
    const activated = await free.post('/api/portal/checkout', { planKey: 'free' });
    expect(activated.status).toBe(201);
    const onFree = await refusal(activated.json.firstKey.secret as string);
    expect(onFree.upgradeUrl).toContain(stack.consoleUrl);
  }, 120_000);
});
