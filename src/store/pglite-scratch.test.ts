import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listMigrations, migrate, openPGliteStore, openStore } from './index.ts';
import { preparedTemplate, scratchCopy } from './pglite-scratch.ts';

const ROOT = join(tmpdir(), 'tollgate-pglite');

describe('throwaway embedded stores', () => {
  it('`:memory:` opens already migrated; a bare openPGliteStore() is an empty database', async () => {
    const migrated = await openStore(':memory:');
    const empty = await openPGliteStore();
    try {
      expect(await migrate(migrated)).toEqual({ applied: [], alreadyApplied: listMigrations().length });
      const [tables] = await empty.query<{ n: number }>(
        "select count(*)::int as n from pg_tables where schemaname = 'public'",
      );
      expect(tables?.n).toBe(0);
    } finally {
      await Promise.all([migrated.close(), empty.close()]);
    }
  });

  it('are copies of their own: rows written in one are not in the next, nor in the template', async () => {
    const first = await openStore(':memory:');
    await first.exec("insert into tollgate_migrations (name) values ('written by the first store')");
    await first.close();
    const second = await openStore(':memory:');
    try {
      const rows = await second.query<{ name: string }>(
        "select name from tollgate_migrations where name = 'written by the first store'",
      );
      expect(rows).toEqual([]);
    } finally {
      await second.close();
    }
  });
});

describe('templates and scratch copies', () => {
  const key = `test-${randomBytes(6).toString('hex')}`;
  afterAll(() => {
    for (const name of [key, `${key}-failing`]) {
      rmSync(join(ROOT, 'templates', name), { recursive: true, force: true });
    }
  });

  let builds = 0;
  const build = async (dir: string) => {
    builds++;
    await new Promise((resolve) => setImmediate(resolve));
    writeFileSync(join(dir, 'PG_VERSION'), '18\n');
  };

  it('builds a template once, however many ask for it at the same time', async () => {
    const dirs = await Promise.all([1, 2, 3].map(() => preparedTemplate(key, build)));
    expect(new Set(dirs).size).toBe(1);
    expect(await preparedTemplate(key, build)).toBe(dirs[0]);
    expect(builds).toBe(1);
    expect(readdirSync(dirs[0] as string)).toEqual(['PG_VERSION']);
  });

  it('a failed build leaves no template behind, and the next request builds again', async () => {
    const failing = `${key}-failing`;
    await expect(
      preparedTemplate(failing, async () => {
        throw new Error('initdb failed');
      }),
    ).rejects.toThrow('initdb failed');
    expect(existsSync(join(ROOT, 'templates', failing))).toBe(false);
    expect(readdirSync(join(ROOT, 'templates')).filter((name) => name.startsWith(failing))).toEqual([]);
    const dir = await preparedTemplate(failing, build);
    expect(readdirSync(dir)).toEqual(['PG_VERSION']);
  });

  it('deletes a scratch copy when it is removed, and the copies of processes that died', async () => {
    const template = await preparedTemplate(key, build);
    // A copy whose owner is gone (killed before closing its store).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const orphan = join(ROOT, 'scratch', `${dead.stdout}-orphan`);
    mkdirSync(orphan, { recursive: true });

    const copy = scratchCopy(template);
    expect(readdirSync(copy.dir)).toEqual(['PG_VERSION']);
    expect(existsSync(orphan)).toBe(false);
    copy.remove();
    expect(existsSync(copy.dir)).toBe(false);
  });
});
