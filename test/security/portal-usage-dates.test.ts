import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { HttpPortalClient, startPortalStack } from './portal-http.ts';

/**
 * Issue 12, row 13: `GET /api/portal/usage?window=HOUR&from=-271821-04-20T00:00:00Z` reached the
 * database with a date it cannot hold and answered 500. Dates are now checked against a documented
 * range (1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z) and refused with a 400 naming the field.
 */
let tollgate: Tollgate;
let client: HttpPortalClient;

beforeAll(async () => {
  tollgate = await startPortalStack('portal-usage-dates');
  client = new HttpPortalClient(tollgate.consoleUrl!);
  await client.signup('dates@example.com');
}, 180_000);
afterAll(async () => {
  await tollgate?.stop();
});

describe('row 13: usage query dates', () => {
  it.each([
    ['from', '-271821-04-20T00:00:00Z'],
    ['to', '+275760-09-13T00:00:00Z'],
    ['from', '0000-01-01T00:00:00Z'],
    ['from', 'yesterday'],
  ])('%s=%s → 400 naming the field, never 500', async (field, value) => {
    const r = await client.get(`/api/portal/usage?window=HOUR&${field}=${encodeURIComponent(value)}`);
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.json.errors[0].path).toBe(field);
  });

  it('still answers a range inside the bounds', async () => {
    const r = await client.get('/api/portal/usage?window=DAY&from=2026-01-01T00:00:00Z');
    expect(r.status).toBe(200);
    expect(r.json.windowSize).toBe('DAY');
  });
});
