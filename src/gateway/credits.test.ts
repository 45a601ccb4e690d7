import { describe, expect, it } from 'vitest';
import type { PriceConfig, ResolvedConfig } from '../config/index.ts';
import type { UsageEvent } from '../metering/events.ts';
import type { AccessView } from '../subscriptions/access.ts';
import { compileJsonPath } from '../util/jsonpath.ts';
import { Decimal } from '../util/money.ts';
import { type CreditCall, costOf, estimateOf, unitPriceOf } from './credits.ts';

const filter = (path: string, value: string) => ({ path, get: compileJsonPath(path), value });
const tokens = (type: string, model = 'tg-large') => ({
  eventType: 'tokens',
  filters: [filter('$.model', model), filter('$.type', type)],
  value: compileJsonPath('$.tokens'),
});
const prices = [
  {
    eventType: 'request',
    filters: [filter('$.route', '/v1/weather')],
    value: null,
    unitPrice: new Decimal('0.05'),
  },
  { ...tokens('input'), unitPrice: new Decimal('0.001') },
  { ...tokens('output'), unitPrice: new Decimal('0.002') },
  { ...tokens('output', 'tg-small'), unitPrice: new Decimal('0.0005') },
];

function call(overrides: Partial<CreditCall>): CreditCall {
  return {
    customerId: 'c1',
    view: {} as AccessView,
    route: { method: 'POST', path: '/v1/chat/completions', models: new Map([['tg-large', 'chat']]) },
    method: 'POST',
    body: null,
    contentLength: 0,
    model: null,
    config: {
      routes: [{ method: 'POST', path: '/v1/complete', reserveOutputTokens: 100 }],
    } as unknown as ResolvedConfig,
    featureMeters: new Map(),
    ...overrides,
  };
}

describe('real-time credit prices', () => {
  it.each([
    [{ type: 'unit', amount: '0.01' }, '0.01'],
    [{ type: 'package', amount: '5.00', quantityPerPackage: 1000 }, '0.005'],
    [
      { type: 'tiered', mode: 'graduated', tiers: [{ upTo: 100, unitPrice: '0' }, { unitPrice: '0.02' }] },
      '0.02',
    ],
    [{ type: 'flat', amount: '20.00' }, null],
    [null, null],
  ] as const)('%j → %s per unit (an upper bound)', (price, expected) => {
    expect(unitPriceOf(price as PriceConfig | null)?.toString() ?? null).toBe(expected);
  });
});

describe('reservation estimate', () => {
  it('a request-priced route reserves its request price only', () => {
    const weather = call({ route: { method: 'GET', path: '/v1/weather', models: null }, method: 'GET' });
    expect(estimateOf(prices, weather).toString()).toBe('0.05');
  });

  it("an AI route reserves the body as input tokens and the request's max_tokens as output", () => {
    const body = Buffer.from(JSON.stringify({ model: 'tg-large', max_tokens: 50, messages: [] }));
    const estimate = estimateOf(prices, call({ body, model: 'tg-large' }));
    expect(estimate.toString()).toBe(new Decimal(body.length).mul('0.001').add('0.1').toString());
  });

  it('without max_tokens: 4096 output tokens, or the route’s reserveOutputTokens; an unknown model counts every model', () => {
    expect(estimateOf(prices, call({ contentLength: 1000, model: 'tg-large' })).toString()).toBe(
      new Decimal('1').add(new Decimal(4096).mul('0.002')).toString(),
    );
    const complete = call({
      route: { method: 'POST', path: '/v1/complete', models: null },
      contentLength: 10,
    });
    expect(estimateOf(prices, complete).toString()).toBe(
      new Decimal('0.01').add(new Decimal(100).mul('0.0025')).toString(),
    );
  });
});

describe('actual cost', () => {
  it('prices the metered events of the call', () => {
    const event = (type: string, data: Record<string, unknown>) => ({ type, data }) as unknown as UsageEvent;
    const events = [
      event('request', { route: '/v1/chat/completions', method: 'POST' }),
      event('tokens', { model: 'tg-large', type: 'input', tokens: 120 }),
      event('tokens', { model: 'tg-large', type: 'output', tokens: 30 }),
    ];
    expect(costOf(prices, events).toString()).toBe('0.18');
    expect(costOf(prices, [event('request', { route: '/v1/weather' })]).toString()).toBe('0.05');
  });
});
