import type { UsageEvent } from '../../src/metering/events.ts';

const start = Date.UTC(2026, 0, 1);

/** Event n of the ingest benchmark: requests and output tokens, alternating, 10 ms apart. */
export const benchEvent = (n: number, source: string, subjects: number, keys: number): UsageEvent =>
  n % 2 === 0
    ? {
        specversion: '1.0',
        id: `req_${n.toString(36)}/request`,
        source,
        type: 'request',
        subject: `cus_${n % subjects}`,
        time: new Date(start + n * 10).toISOString(),
        data: { route: '/v1/weather', method: 'GET', status: 200, key: `key_${n % keys}` },
      }
    : {
        specversion: '1.0',
        id: `req_${n.toString(36)}/tokens/output`,
        source,
        type: 'tokens',
        subject: `cus_${n % subjects}`,
        time: new Date(start + n * 10).toISOString(),
        data: {
          tokens: n % 900,
          model: n % 3 ? 'tg-small' : 'tg-large',
          type: 'output',
          key: `key_${n % keys}`,
        },
      };
