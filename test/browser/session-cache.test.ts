import { afterAll, beforeAll, expect, it } from 'vitest';
import { PortalClient } from '../portal/client.ts';
import { ensurePortalBuilt, launchChromium, type Stack, startStack } from './stack.ts';

/**
 * The portal keeps what it read in a client-side cache (TanStack Query). After a log-out, the
 * next person to log in in the same tab must never see the previous organisation's data, not even
 * for the moment before their own arrives.
 */
const PASSWORD = 'Quartz-Lantern-Harbour-7319';
let stack: Stack;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

beforeAll(async () => {
  ensurePortalBuilt();
  stack = await startStack();
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

it("shows the next user none of the previous user's cached reads", async () => {
  for (const [email, org, ip] of [
    ['ada@a.test', 'Ada Co', '10.9.2.1'],
    ['bob@b.test', 'Bob Co', '10.9.2.2'],
  ] as const) {
    const client = new PortalClient(stack.tollgate.consoleApp, ip);
    await client.signup(email, org, PASSWORD);
    if (org === 'Ada Co')
      expect((await client.post('/api/portal/keys', { name: 'Ada secret key' })).status).toBe(201);
  }
  const page = browser!.page;
  const logIn = async (email: string) => {
    await page.goto(`${stack.consoleUrl}/login?next=%2Fkeys`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/keys');
  };

  await logIn('ada@a.test');
  await page.getByText('Ada secret key').first().waitFor();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL('**/login');

  // Bob logs in in the same tab (no reload: the cache lives in the page's memory). His key list
  // is held back on its way, so whatever the page shows meanwhile comes from the cache.
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  await page.route('**/api/portal/keys', async (route) => {
    await held;
    await route.continue();
  });
  await page.getByLabel('Email').fill('bob@b.test');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('link', { name: 'API keys' }).first().click();
  await page.waitForURL('**/keys');
  await page.getByRole('heading', { name: 'API keys' }).waitFor();
  await page.getByText('Loading…').or(page.getByText('Ada secret key')).first().waitFor();
  expect(await page.getByText('Ada secret key').count()).toBe(0);
  release();
  await page.getByText('No keys yet', { exact: false }).first().waitFor();
  expect(await page.getByText('Ada secret key').count()).toBe(0);
}, 240_000);
