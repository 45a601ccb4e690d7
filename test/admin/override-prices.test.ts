import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { createLogger } from '../../src/util/log.ts';
import { catalogConfig } from '../entitlements/fixtures.ts';
import { tempDataDir } from '../support/tollgate.ts';

const TOKEN = 'admin-token-for-override-tests-0123456789';
let tollgate: Tollgate;

beforeAll(async () => {
  const config = catalogConfig();
  config.admin.token = TOKEN;
  tollgate = await startTollgate({
    config,
    database: ':memory:',
    dataDir: tempDataDir('override-prices'),
    role: 'console',
    consolePort: 0,
    log: createLogger({ level: 'silent' }),
  });
}, 180_000);
afterAll(async () => tollgate?.stop());

const call = (method: string, path: string, body?: unknown) =>
  tollgate.consoleApp.request(`/api/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/**
 * Contract overrides' prices through the admin API take exactly what the config takes (the same
 * schema): take rates and included units are accepted when valid; a bad value is a 400
 * problem+json naming the field, and the contract in force does not change.
 */
describe('contract override prices in the admin API', () => {
  it('validates included units, take rates and tiers as the config does; a refusal changes nothing', async () => {
    const customer = await tollgate.customers.create({ name: 'Contract', email: 'contract@example.com' });
    const sub = await tollgate.subscriptions.subscribe({
      customerId: customer.id,
      planKey: 'pro',
      trial: false,
    });
    const put = (body: unknown) => call('PUT', `/subscriptions/${sub.id}/overrides`, body);

    const takeRate = {
      rateCards: {
        requests: { price: { type: 'unit', amount: '0.01', includedUnits: 1000 } },
        small: {
          feature: 'small_input_tokens',
          price: { type: 'percentage', rate: '2.9', fixedFee: '0.30' },
        },
      },
    };
    const accepted = await put(takeRate);
    expect(accepted.status).toBe(200);
    expect((await accepted.json()).overrides).toEqual(takeRate);

    const refusals: [unknown, { path: string; message: string }][] = [
      [
        { rateCards: { requests: { price: { type: 'unit', amount: '0.01', includedUnits: -5 } } } },
        { path: 'rateCards.requests.price.includedUnits', message: 'included units cannot be negative' },
      ],
      [
        {
          rateCards: { small: { feature: 'small_input_tokens', price: { type: 'percentage', rate: '150' } } },
        },
        {
          path: 'rateCards.small.price.rate',
          message: 'rate must be a percentage between "0" and "100" as a decimal string, e.g. "2.9"',
        },
      ],
      [
        {
          rateCards: {
            small: {
              feature: 'small_input_tokens',
              price: {
                type: 'percentage',
                rate: '2',
                minimumPerTransaction: '1.00',
                maximumPerTransaction: '0.50',
              },
            },
          },
        },
        {
          path: 'rateCards.small.price.maximumPerTransaction',
          message: 'maximumPerTransaction must be at least minimumPerTransaction',
        },
      ],
      [
        {
          rateCards: {
            requests: {
              price: {
                type: 'tiered',
                mode: 'graduated',
                tiers: [
                  { upTo: 100, unitPrice: '0' },
                  { upTo: 50, unitPrice: '1' },
                ],
              },
            },
          },
        },
        { path: 'rateCards.requests.price.tiers[1].upTo', message: 'tiers must increase' },
      ],
    ];
    for (const [body, error] of refusals) {
      const refused = await put(body);
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect((await refused.json()).errors).toContainEqual(error);
    }
    expect((await tollgate.subscriptions.require(sub.id)).overrides).toEqual(takeRate);
  });

  it('documents the contract with the config price types in the admin OpenAPI document', async () => {
    const doc = (await (await call('GET', '/openapi.json')).json()) as {
      components: { schemas: Record<string, unknown> };
    };
    const contract = JSON.stringify(doc.components.schemas.ContractOverrides);
    for (const type of ['flat', 'unit', 'tiered', 'package', 'percentage'])
      expect(contract).toContain(`"${type}"`);
    expect(contract).toContain('includedUnits');
  });
});
