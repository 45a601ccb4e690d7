import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoUpstream, startDemoUpstream } from '../../examples/quickstart/upstream.ts';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { createLogger } from '../../src/util/log.ts';
import { journeyConfig } from '../browser/stack.ts';
import { PG_URL } from '../support/postgres.ts';
import { PortalClient } from './client.ts';

/**
 * A budget alert's firing record and its `budget.alert` event are written in one transaction:
 * when the event cannot be written (here a trigger refuses it in the webhooks' outbox), the alert
 * is not recorded as fired either, and the next check fires it, with exactly one event.
 */
const CARD = { number: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };
const schema = `t_${randomBytes(6).toString('hex')}`;
let admin: Store;
let tollgate: Tollgate;
let upstream: DemoUpstream;
let dataDir: string;

beforeAll(async () => {
  admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`create schema ${schema}`);
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  upstream = await startDemoUpstream(0);
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-budget-outbox-'));
  tollgate = await startTollgate({
    config: journeyConfig(upstream.url),
    database: url.toString(),
    dataDir,
    gatewayPort: 0,
    consolePort: 0,
    dev: true,
    log: createLogger({ level: 'silent' }),
  });
}, 120_000);

afterAll(async () => {
  await tollgate?.stop();
  await upstream?.close();
  await admin?.exec(`drop schema if exists ${schema} cascade`);
  await admin?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function budgetAlertEvents(customerId: string): Promise<number> {
  const rows = await admin.query<{ n: number }>(
    `select count(*)::int as n from ${schema}.notify_messages where type = 'budget.alert' and customer_id = $1`,
    [customerId],
  );
  return rows[0]!.n;
}

describe('a budget alert and its webhook event', () => {
  it('are recorded together: a refused event leaves the alert unfired, and the next check fires it once', async () => {
    const owner = new PortalClient(tollgate.consoleApp, '10.17.0.1');
    const { customerId } = await owner.signup('dana@d.test', 'Dana Co');
    expect((await owner.post('/api/portal/checkout', { planKey: 'pro', card: CARD })).status).toBe(201);

    await admin.exec(`
      create function ${schema}.refuse_budget_alert() returns trigger language plpgsql as $$
      begin
        if new.type = 'budget.alert' then raise exception 'outbox refuses budget.alert'; end if;
        return new;
      end $$;
      create trigger refuse_budget_alert before insert on ${schema}.notify_messages
        for each row execute function ${schema}.refuse_budget_alert();`);

    // Spend is 49.00 after checkout: the alert is reached at once (creating it checks it too).
    const created = await owner.post('/api/portal/alerts', {
      kind: 'amount',
      threshold: '40.00',
      email: false,
    });
    expect(created.status).toBe(201);
    await tollgate.portal.evaluateBudgets();
    expect((await owner.get('/api/portal/banners')).json.banners).toEqual([]);
    expect(await budgetAlertEvents(customerId)).toBe(0);

    await admin.exec(`drop trigger refuse_budget_alert on ${schema}.notify_messages`);
    await tollgate.portal.evaluateBudgets();
    await tollgate.portal.evaluateBudgets();
    const banners = (await owner.get('/api/portal/banners')).json.banners as { message: string }[];
    expect(banners).toHaveLength(1);
    expect(banners[0]!.message).toMatch(/reached 49\.00 USD/);
    expect(await budgetAlertEvents(customerId)).toBe(1);
  }, 120_000);
});
