import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/index.ts';
import { PG_URL } from '../support/postgres.ts';

/**
 * `tollgate` on a Node that does not strip TypeScript types itself (before 22.18, or started with
 * --no-experimental-strip-types, as here): bin/tollgate.js re-runs itself with the hook of
 * bin/strip-types.js preloaded, and Tollgate's own source, the user's `tollgate.config.ts` and a
 * second .ts file it imports load as they do where Node strips the types. test/package/install.test.ts runs the installed
 * package on an old Node itself (TOLLGATE_TEST_NODE).
 */
const BIN = resolve(import.meta.dirname, '../../bin/tollgate.js');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-strip-'));
const schema = `strip_${randomBytes(6).toString('hex')}`;
const database = (() => {
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
})();

beforeAll(async () => {
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`create schema ${schema}`);
  await admin.close();
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-api', type: 'module' }));
  writeFileSync(
    join(dir, 'plans.ts'),
    `import type { TollgateConfigInput } from 'tollgate';
type Plan = NonNullable<TollgateConfigInput['plans']>[number];
export const pro: Plan = { key: 'pro', name: 'Pro' as string, rateCards: [{ key: 'base', price: { type: 'flat', amount: '49.00' } }] };
`,
  );
  writeFileSync(
    join(dir, 'tollgate.config.ts'),
    `import { defineConfig } from 'tollgate';
import { pro } from './plans.ts';
const upstream: string = 'http://127.0.0.1:9';
export default defineConfig({ upstream, plans: [pro] satisfies unknown[] });
`,
  );
  writeFileSync(
    join(dir, 'enum.config.ts'),
    `enum Tier { Free }\nexport default { upstream: 'http://x' };\n`,
  );
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`drop schema ${schema} cascade`);
  await admin.close();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  typescript: string;
}

/** `tollgate …` in the project; `nodeStrips: false` starts Node with its own type stripping off. */
function tollgate(nodeStrips: boolean, ...args: string[]): Promise<Run> {
  const flag = nodeStrips ? '' : '--no-experimental-strip-types';
  const env = { ...process.env, NODE_OPTIONS: flag, TOLLGATE_LOG_LEVEL: 'warn', NO_COLOR: '1' };
  const probe = `--import=data:text/javascript,console.error('typescript=' + process.features.typescript)`;
  return new Promise((done) => {
    execFile(
      process.execPath,
      [probe, BIN, '--database', database, '--data-dir', join(dir, 'data'), ...args],
      { cwd: dir, env, timeout: 120_000 },
      (error, stdout, stderr) => {
        const typescript = /typescript=(\w+)/.exec(stderr)?.[1] ?? '';
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        done({ code, stdout, stderr: stderr.replace(/typescript=\w+\n/g, ''), typescript });
      },
    );
  });
}

describe('tollgate where Node does not strip TypeScript types', () => {
  it("loads the user's tollgate.config.ts and the .ts files it imports", async () => {
    const run = await tollgate(false, 'plans', 'diff', '--json');
    expect(run.typescript).toBe('false');
    expect(run.code, run.stderr).toBe(0);
    const preview = JSON.parse(run.stdout) as { plans: { key: string; action: string }[] };
    expect(preview.plans.map((p) => [p.key, p.action])).toEqual([['pro', 'create']]);
  }, 150_000);

  it('refuses syntax that cannot be stripped with the message Node gives', async () => {
    const [hook, node] = await Promise.all([
      tollgate(false, '-c', 'enum.config.ts', 'plans', 'diff'),
      tollgate(true, '-c', 'enum.config.ts', 'plans', 'diff'),
    ]);
    expect([hook.typescript, node.typescript]).toEqual(['false', 'strip']);
    expect(hook.code).toBe(1);
    expect(hook.stderr).toContain('enum.config.ts is not valid');
    expect(hook.stderr).toContain('cannot load: TypeScript enum is not supported in strip-only mode');
    expect(hook.stderr).toBe(node.stderr);
  }, 150_000);
});
