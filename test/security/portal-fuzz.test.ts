import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { PortalClient } from '../portal/client.ts';
import { startPortalStack } from './portal-http.ts';

/**
 * Every portal POST/PUT route, fed random JSON, values of the wrong type, deep nesting, huge
 * strings and non-JSON bodies (fast-check, fixed seed): each answer is a 4xx
 * `application/problem+json`, never a 5xx, and nothing is written to the store. Requests are
 * made with a signed-in owner and the right CSRF token, so the bodies reach validation.
 * Longer local run: `FUZZ_RUNS=2000 npx vitest run test/security/portal-fuzz.test.ts`.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

const ROUTES: [method: 'POST' | 'PUT', path: string, signedIn: boolean][] = [
  ['POST', '/api/portal/signup', false],
  ['POST', '/api/portal/login', false],
  ['POST', '/api/portal/password/forgot', false],
  ['POST', '/api/portal/password/reset', false],
  ['POST', '/api/portal/invitations/accept', false],
  ['POST', '/api/portal/members/invite', true],
  ['POST', '/api/portal/keys', true],
  ['POST', '/api/portal/checkout', true],
  ['POST', '/api/portal/subscription/preview', true],
  ['POST', '/api/portal/subscription/change', true],
  ['POST', '/api/portal/subscription/cancel', true],
  ['POST', '/api/portal/subscription/resume', true],
  ['POST', '/api/portal/invoices/inv_unknown/pay', true],
  ['POST', '/api/portal/credits/topups', true],
  ['PUT', '/api/portal/credits/auto-recharge', true],
  ['POST', '/api/portal/alerts', true],
  ['PUT', '/api/portal/spend-cap', true],
];

/**
 * Fields the routes read, given values of the wrong type (never a string: every field but `card`
 * is one, so a body built here is never valid and must change nothing).
 */
const FIELDS = [
  'email',
  'name',
  'password',
  'organisation',
  'token',
  'role',
  'planKey',
  'subscriptionId',
  'card',
  'amount',
  'currency',
  'threshold',
  'kind',
  'featureKey',
  'webhookUrl',
  'expiresAt',
];
const notAString = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
);

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

const body = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.dictionary(fc.constantFrom(...FIELDS), notAString, { minKeys: 1 }).map((v) => JSON.stringify(v)),
  fc.integer({ min: 65, max: 400 }).map(nested),
  fc.integer({ min: 1, max: 3 }).map((mib) => JSON.stringify({ email: 'x'.repeat(mib * 1024 * 1024) })),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', 'null', '[]', '{', '{"email":', '"\\u0000"', '{"__proto__":{"admin":true}}'),
);

let tollgate: Tollgate;
let owner: PortalClient;

async function rowCounts(): Promise<Record<string, number>> {
  const tables = await tollgate.runtime.store.query<{ table_name: string }>(
    `select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`,
  );
  const counts: Record<string, number> = {};
  for (const { table_name } of tables) {
    const [row] = await tollgate.runtime.store.query<{ n: number }>(
      `select count(*)::int as n from "${table_name}"`,
    );
    counts[table_name] = Number(row!.n);
  }
  return counts;
}

beforeAll(async () => {
  tollgate = await startPortalStack('portal-fuzz');
  owner = new PortalClient(tollgate.consoleApp);
  await owner.signup('fuzz-owner@example.com', 'Fuzz Org');
}, 180_000);
afterAll(async () => {
  await tollgate?.stop();
});

describe('portal JSON bodies, fuzzed', () => {
  it('answer only 4xx problem+json, never 5xx, and write nothing', async () => {
    const anonymous = new PortalClient(tollgate.consoleApp);
    await anonymous.get('/api/portal/config');
    const before = await rowCounts();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        body,
        fc.boolean(),
        async ([method, path, signedIn], text, json) => {
          const client = signedIn ? owner : anonymous;
          const type = json ? 'application/json' : 'text/plain';
          const r = await client.request(method, path, undefined, { 'content-type': type }, text);
          expect(r.status, `${method} ${path} ${text.slice(0, 80)}`).toBeGreaterThanOrEqual(400);
          expect(r.status, `${method} ${path} ${text.slice(0, 80)}`).toBeLessThan(500);
          expect(r.headers.get('content-type')).toBe('application/problem+json');
        },
      ),
      { seed: 42, numRuns: RUNS * ROUTES.length },
    );
    expect(await rowCounts()).toEqual(before);
  }, 600_000);
});
