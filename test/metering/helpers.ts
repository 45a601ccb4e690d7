import type { MeterConfig } from '../../src/config/index.ts';
import { configSchema } from '../../src/config/index.ts';
import type { UsageEvent } from '../../src/metering/events.ts';

/** Meters as the config schema resolves them (defaults applied). */
export function meters(list: unknown[]): MeterConfig[] {
  return configSchema.parse({ upstream: 'http://127.0.0.1:1', meters: list }).meters;
}

export const testMeters = meters([
  {
    slug: 'requests',
    eventType: 'request',
    aggregation: 'COUNT',
    groupBy: { route: '$.route', method: '$.method' },
  },
  {
    slug: 'tokens',
    eventType: 'tokens',
    aggregation: 'SUM',
    valueProperty: '$.tokens',
    groupBy: { model: '$.model', type: '$.type' },
  },
  { slug: 'tokens_avg', eventType: 'tokens', aggregation: 'AVG', valueProperty: '$.tokens' },
  { slug: 'tokens_min', eventType: 'tokens', aggregation: 'MIN', valueProperty: '$.tokens' },
  { slug: 'tokens_max', eventType: 'tokens', aggregation: 'MAX', valueProperty: '$.tokens' },
  { slug: 'tokens_latest', eventType: 'tokens', aggregation: 'LATEST', valueProperty: '$.tokens' },
  { slug: 'models', eventType: 'tokens', aggregation: 'UNIQUE_COUNT', valueProperty: '$.model' },
]);

let seq = 0;
export function tokenEvent(
  time: string,
  tokens: number | string,
  extra: Partial<UsageEvent> & { model?: string; type?: string } = {},
): UsageEvent {
  const { model = 'small', type = 'input', ...rest } = extra;
  seq += 1;
  return {
    specversion: '1.0',
    id: `evt_${seq}`,
    source: 'test',
    type: 'tokens',
    subject: 'cus_a',
    time,
    data: { tokens, model, type },
    ...rest,
  };
}

export function requestEvent(time: string, extra: Partial<UsageEvent> & { route?: string } = {}): UsageEvent {
  const { route = '/v1/weather', ...rest } = extra;
  seq += 1;
  return {
    specversion: '1.0',
    id: `req_${seq}`,
    source: 'gateway',
    type: 'request',
    subject: 'cus_a',
    time,
    data: { route, method: 'GET' },
    ...rest,
  };
}
