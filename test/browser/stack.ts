import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { type ResolvedConfig, resolveConfig, type TollgateConfigInput } from '../../src/config/index.ts';
import type { Clock } from '../../src/util/clock.ts';
import { createLogger } from '../../src/util/log.ts';

/**
 * The quickstart's API (demo upstream + openapi.yaml) sold with small quotas, so a browser test
 * can exhaust Pro in a handful of calls: Free 3 requests, Pro 5 (hard), Growth 10,000 with overage.
 */
const QUICKSTART = resolve(fileURLToPath(new URL('../../examples/quickstart', import.meta.url)));
export const ADMIN_TOKEN = 'admin-token-for-browser-tests-0123';

export function journeyConfig(upstream: string, billing?: TollgateConfigInput['billing']): ResolvedConfig {
  return resolveConfig(
    {
      name: 'Acme Weather & AI API',
      upstream,
      openapi: join(QUICKSTART, 'openapi.yaml'),
      meters: [
        {
          slug: 'requests',
          name: 'API requests',
          eventType: 'request',
          aggregation: 'COUNT',
          groupBy: { route: '$.route', method: '$.method', status: '$.status', key: '$.key' },
        },
        {
          slug: 'tokens',
          name: 'AI tokens',
          eventType: 'tokens',
          aggregation: 'SUM',
          valueProperty: '$.tokens',
          groupBy: { model: '$.model', type: '$.type', key: '$.key' },
        },
      ],
      features: [
        { key: 'api_requests', name: 'API requests', meter: 'requests' },
        { key: 'chat', name: 'Chat completions' },
        {
          key: 'small_input_tokens',
          name: 'tg-small input tokens',
          meter: 'tokens',
          meterGroupByFilters: { model: 'tg-small', type: 'input' },
        },
        {
          key: 'small_output_tokens',
          name: 'tg-small output tokens',
          meter: 'tokens',
          meterGroupByFilters: { model: 'tg-small', type: 'output' },
        },
      ],
      plans: [
        {
          key: 'free',
          name: 'Free',
          description: 'Try the API at no cost.',
          rateLimit: { limit: 60, window: '1m' },
          rateCards: [
            {
              key: 'requests',
              feature: 'api_requests',
              entitlement: { type: 'metered', limit: 3, usagePeriod: 'P1M' },
            },
          ],
        },
        {
          key: 'pro',
          name: 'Pro',
          description: 'For production apps, with chat on the small model.',
          rateLimit: { limit: 1000, window: '1m' },
          rateCards: [
            { key: 'base', name: 'Pro subscription', price: { type: 'flat', amount: '49.00' } },
            {
              key: 'requests',
              feature: 'api_requests',
              entitlement: { type: 'metered', limit: 5, usagePeriod: 'P1M' },
            },
            { key: 'chat', feature: 'chat', entitlement: { type: 'boolean' } },
          ],
        },
        {
          key: 'growth',
          name: 'Growth',
          description: 'Scale with overage: $0.01 per call beyond 10,000.',
          rateLimit: { limit: 2000, window: '1m' },
          rateCards: [
            { key: 'base', name: 'Growth subscription', price: { type: 'flat', amount: '99.00' } },
            {
              key: 'requests',
              feature: 'api_requests',
              price: {
                type: 'tiered',
                mode: 'graduated',
                tiers: [{ upTo: 10_000, unitPrice: '0' }, { unitPrice: '0.01' }],
              },
              entitlement: { type: 'metered', limit: 10_000, softLimit: true, usagePeriod: 'P1M' },
            },
            { key: 'chat', feature: 'chat', entitlement: { type: 'boolean' } },
            {
              key: 'small_input',
              feature: 'small_input_tokens',
              price: { type: 'unit', amount: '0.0000005' },
            },
            {
              key: 'small_output',
              feature: 'small_output_tokens',
              price: { type: 'unit', amount: '0.0000015' },
            },
          ],
        },
      ],
      portal: { branding: { name: 'Acme API', primaryColor: '#4f46e5' } },
      // Test receivers (budget-alert webhooks) listen on 127.0.0.1.
      notifications: { allowHosts: ['127.0.0.1'] },
      admin: { token: ADMIN_TOKEN },
      ...(billing && { billing }),
    },
    join(QUICKSTART, 'journey.config.ts'),
    QUICKSTART,
  );
}

/** Real time plus an offset the test can move forward ("ten days later"). */
export class OffsetClock implements Clock {
  #offset = 0;
  now(): Date {
    return new Date(Date.now() + this.#offset);
  }
  advance(ms: number): void {
    this.#offset += ms;
  }
  set(to: Date): void {
    this.#offset = to.getTime() - Date.now();
  }
}

/**
 * `npm test` builds the portal before vitest; a test run alone builds it here, into a private
 * folder renamed into place, so two test files building at once do not trip over each other.
 */
export function ensurePortalBuilt(): void {
  const root = resolve(QUICKSTART, '../..');
  const target = join(root, 'dist/web');
  if (existsSync(join(target, 'index.html'))) return;
  const scratch = join(root, 'dist', `web-build-${process.pid}`);
  const vite = join(root, 'node_modules/.bin/vite');
  const built = spawnSync(
    process.execPath,
    [
      vite,
      'build',
      '--config',
      'web/vite.config.ts',
      '--logLevel',
      'warn',
      '--outDir',
      scratch,
      '--emptyOutDir',
    ],
    { cwd: root, encoding: 'utf8' },
  );
  if (built.status !== 0) throw new Error(`portal build failed: ${built.stderr}`);
  try {
    if (!existsSync(join(target, 'index.html'))) {
      rmSync(target, { recursive: true, force: true });
      renameSync(scratch, target);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export interface Stack {
  tollgate: Tollgate;
  upstream: DemoUpstream;
  clock: OffsetClock;
  consoleUrl: string;
  gatewayUrl: string;
  stop(): Promise<void>;
}

/** Upstream + Tollgate (embedded store in a temp dir) on free ports, with a clock the test moves. */
export async function startStack(
  options: { logLevel?: string; billing?: TollgateConfigInput['billing'] } = {},
): Promise<Stack> {
  const upstream = await startDemoUpstream(0);
  const clock = new OffsetClock();
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-portal-'));
  const tollgate = await startTollgate({
    config: journeyConfig(upstream.url, options.billing),
    database: ':memory:',
    dataDir,
    clock,
    gatewayPort: 0,
    consolePort: 0,
    dev: true,
    log: createLogger({ level: options.logLevel ?? 'silent' }),
  });
  return {
    tollgate,
    upstream,
    clock,
    consoleUrl: tollgate.consoleUrl!,
    gatewayUrl: tollgate.gatewayUrl!,
    async stop() {
      await tollgate.stop();
      await upstream.close();
    },
  };
}

// `node test/browser/stack.ts` runs the stack for a look in a browser.
if (import.meta.url === `file://${process.argv[1]}`) {
  const stack = await startStack({ logLevel: 'info' });
  console.log(`portal  ${stack.consoleUrl}/\ngateway ${stack.gatewayUrl}\nadmin token ${ADMIN_TOKEN}`);
}

/** Debian's chromium, headless, with a throw-away profile; `close` also deletes the profile. */
export async function launchChromium(): Promise<{ page: Page; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'tollgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 860 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  // Generous ceilings: a busy machine (load 8 on 2 cores) renders slowly; waits end as soon as
  // the element is there.
  page.setDefaultTimeout(60_000);
  page.setDefaultNavigationTimeout(60_000);
  return {
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
