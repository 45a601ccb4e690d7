import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * `tollgate simulate --coupon` run as an operator runs it (the real CLI on the quickstart config
 * and its own data dir): the what-if coupon is its own line under the customer, only in "after",
 * and the totals are the plan's 49.00 before and 39.20 after 20 % off; `--json` gives the same
 * numbers, and an unknown code is a clear error.
 */
const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-simulate-cli-'));
const base = [
  join(ROOT, 'src/cli/main.ts'),
  '--config',
  join(ROOT, 'examples/quickstart/tollgate.config.ts'),
  '--data-dir',
  dataDir,
];

async function tollgate(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...base, ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', TOLLGATE_LOG_LEVEL: 'silent' },
      timeout: 150_000, // a fresh embedded store on a busy machine
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('tollgate simulate --coupon (CLI)', () => {
  it('prints the coupon as its own line in "after" and the discounted total; --json agrees', {
    timeout: 600_000,
  }, async () => {
    expect((await tollgate('plans', 'push')).code).toBe(0);
    const created = await tollgate(
      'customers',
      'create',
      '--id',
      'cus_sim',
      '--name',
      'Sim Co',
      '--plan',
      'pro',
      '--json',
    );
    expect(created.code).toBe(0);
    const periodFrom: string = JSON.parse(created.stdout).subscription.currentPeriod.from;
    const month = periodFrom.slice(0, 7);
    expect((await tollgate('coupons', 'create', 'whatif20', '--percent-off', '20')).code).toBe(0);

    const table = await tollgate('simulate', '--plan', 'pro', '--period', month, '--coupon', 'whatif20');
    expect(table.code).toBe(0);
    // NO_COLOR through a pipe: no escape codes in the table (cli-table3 paints borders otherwise).
    expect(table.stdout).not.toContain('\u001b[');
    const rows = table.stdout.split('\n');
    // The customer's row: 49.00 before, 39.20 after, -9.80 change.
    expect(rows.find((l) => l.includes('Sim Co'))).toMatch(/49\.00\s*│\s*39\.20\s*│\s*-\$?9\.80/);
    // The coupon's own line: nothing before (a what-if), -9.80 after.
    expect(rows.find((l) => l.includes('Coupon WHATIF20'))).toMatch(/│\s*│\s*-9\.80\s*│/);
    expect(rows.find((l) => l.includes('total'))).toMatch(/1 periods\s*│\s*\$?49\.00\s*│\s*\$?39\.20/);
    expect(table.stdout).toContain('Nothing was changed.');

    const json = await tollgate(
      'simulate',
      '--plan',
      'pro',
      '--period',
      month,
      '--coupon',
      'whatif20',
      '--json',
    );
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({
        customerId: 'cus_sim',
        before: '49.00',
        after: '39.20',
        discountsBefore: [],
        discountsAfter: [{ description: expect.stringContaining('Coupon WHATIF20'), amount: '-9.80' }],
      }),
    ]);
    // A what-if redeems nothing.
    const coupons = JSON.parse((await tollgate('coupons', 'list', '--json')).stdout);
    expect(coupons.find((c: { code: string }) => c.code === 'WHATIF20')).toMatchObject({ timesRedeemed: 0 });

    const unknown = await tollgate('simulate', '--plan', 'pro', '--period', month, '--coupon', 'nosuch');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('No coupon "NOSUCH"');
  });
});
