import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/index.ts';
import { PG_URL } from '../support/postgres.ts';

/** `tollgate plans diff|push|migrate` and `tollgate customers …` as a user runs them. */
const run = promisify(execFile);
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
const configFile = join(dir, 'tollgate.config.ts');
// PostgreSQL (a fresh schema) rather than the embedded store: each command is a new process, and
// opening PostgreSQL costs far less CPU than starting the embedded database every time.
const schema = `cli_${randomBytes(6).toString('hex')}`;
const database = (() => {
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
})();
beforeAll(async () => {
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`drop schema ${schema} cascade`);
  await admin.close();
});

function writeConfig(freeLimit: number, withPro = true): void {
  const plans = [
    `{ key: 'free', name: 'Free', rateCards: [{ key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: ${freeLimit} } }] }`,
  ];
  if (withPro) {
    plans.push(
      `{ key: 'pro', name: 'Pro', rateCards: [{ key: 'base', price: { type: 'flat', amount: '49.00' } }] }`,
    );
  }
  writeFileSync(
    configFile,
    `export default {
  upstream: 'http://127.0.0.1:9',
  meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT' }],
  features: [{ key: 'api_requests', name: 'API requests', meter: 'requests' }],
  plans: [${plans.join(',\n    ')}],
};
`,
  );
}

async function tollgate(...args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [MAIN, '-c', configFile, '--database', database, '--data-dir', join(dir, 'data'), ...args],
    {
      env: { ...process.env, TOLLGATE_LOG_LEVEL: 'warn', NO_COLOR: '1' },
    },
  );
  return stdout;
}

describe('tollgate plans and customers commands', () => {
  it('diff, push, version, migrate and archive', async () => {
    writeConfig(1000);
    const preview = JSON.parse(await tollgate('plans', 'diff', '--json'));
    expect(preview.plans.map((p: { key: string; action: string }) => [p.key, p.action])).toEqual([
      ['free', 'create'],
      ['pro', 'create'],
    ]);
    expect(await tollgate('plans', 'push')).toContain('published v1');

    const created = JSON.parse(
      await tollgate('customers', 'create', '--name', 'Acme', '--plan', 'free', '--json'),
    );
    expect(created.subscription).toMatchObject({ planKey: 'free', planVersion: 1, status: 'active' });

    writeConfig(2000);
    const diff = await tollgate('plans', 'diff');
    expect(diff).toContain('~ free changed: would publish v2');
    expect(diff).toContain('phases.default.rateCards.requests.entitlement.limit: 1000 → 2000');
    expect(diff).toContain('1 subscriber stays on v1');
    await tollgate('plans', 'push');

    const migrated = JSON.parse(await tollgate('plans', 'migrate', 'free', '--json'));
    expect(migrated).toMatchObject({ toVersion: 2, migrated: [{ customerId: created.id }] });

    await tollgate('subscriptions', 'change', created.subscription.id, '--plan', 'pro');
    writeConfig(2000, false);
    const archived = await tollgate('plans', 'push');
    expect(archived).toContain('pro ARCHIVED, not deleted — 1 subscriber keeps it');
  }, 300_000);

  it('bad input is a clear message and exit code 1', async () => {
    await expect(tollgate('customers', 'create', '--name', 'X', '--email', 'nope')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('email'),
    });
    // A mistyped plan creates no customer (none left behind without a plan to duplicate on retry).
    const before = JSON.parse(await tollgate('customers', 'list', '--json')).length;
    await expect(tollgate('customers', 'create', '--name', 'Typo', '--plan', 'fre')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('No plan "fre"; nothing was created. Plans: free.'),
    });
    expect(JSON.parse(await tollgate('customers', 'list', '--json')).length).toBe(before);
  }, 180_000);
});
