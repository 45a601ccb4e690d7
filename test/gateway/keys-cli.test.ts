import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-keys-cli-'));
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

describe('tollgate keys (CLI)', () => {
  it('creates (secret shown once), lists and revokes with --json; refuses a bad expiry', {
    timeout: 600_000,
  }, async () => {
    // A key for a customer that does not exist is refused with a clear error, and nothing is created.
    const unknown = await tollgate('keys', 'create', '--customer', 'cus_nobody', '--name', 'ci', '--json');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('No customer "cus_nobody": nothing created');
    expect(unknown.stdout).not.toMatch(/tg_(test|live)_/);
    expect(JSON.parse((await tollgate('keys', 'list', '--customer', 'cus_nobody', '--json')).stdout)).toEqual(
      [],
    );

    expect((await tollgate('customers', 'create', '--id', 'cus_cli', '--name', 'CLI Co')).code).toBe(0);
    const created = await tollgate('keys', 'create', '--customer', 'cus_cli', '--name', 'ci', '--json');
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(key.secret).toMatch(/^tg_test_[0-9A-Za-z]{34}$/); // the quickstart takes sandbox payments
    expect(key).toMatchObject({ customerId: 'cus_cli', name: 'ci', status: 'active' });

    const revoked = JSON.parse((await tollgate('keys', 'revoke', key.id, '--json')).stdout);
    expect(revoked.status).toBe('revoked');

    const list = JSON.parse((await tollgate('keys', 'list', '--customer', 'cus_cli', '--json')).stdout);
    expect(list.map((k: { id: string; status: string }) => [k.id, k.status])).toEqual([[key.id, 'revoked']]);
    expect(JSON.stringify(list)).not.toContain(key.secret);

    const bad = await tollgate('keys', 'create', '--customer', 'cus_cli', '--expires', 'tomorrow');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--expires must be an ISO 8601 time');
  });
});
