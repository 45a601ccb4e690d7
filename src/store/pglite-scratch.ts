import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { processAlive } from '../util/process-alive.ts';

/**
 * Throwaway embedded stores (`:memory:`: tests, benchmarks) start as a copy of a database that
 * was prepared once and kept in the OS temp directory. Creating a PGlite database runs initdb
 * (a second WASM instance, then a tar round-trip of its files), which is most of what opening
 * a store costs: tens of seconds on a busy 2-core machine, against about one for copying the
 * 40 MB of a prepared data directory. The copy is the store's own and is deleted when it closes.
 *
 * A template is named by what made it (the PGlite version, and the migrations for a migrated
 * one), so a changed migration or an upgraded PGlite gets a new template, never a stale one.
 */
const ROOT = join(tmpdir(), 'tollgate-pglite');

function pgliteVersion(): string {
  // The package's `exports` do not list package.json: find it beside the resolved entry point.
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A short, stable name for a template's ingredients. */
export function templateKey(kind: string, ...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of [pgliteVersion(), ...parts]) hash.update(part).update('\0');
  return `${kind}-${hash.digest('hex').slice(0, 16)}`;
}

const building = new Map<string, Promise<string>>();

/**
 * The template directory `key`, built by `build` if no process has built it yet. Building
 * happens in a directory of its own that is renamed into place when complete, so a process
 * never copies a half-built template; when two build at once, the first rename wins.
 */
export function preparedTemplate(key: string, build: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(ROOT, 'templates', key);
  if (existsSync(dir)) return Promise.resolve(dir);
  let pending = building.get(key);
  if (!pending) {
    pending = (async () => {
      mkdirSync(join(ROOT, 'templates'), { recursive: true });
      const work = mkdtempSync(`${dir}.build-`);
      try {
        await build(work);
        renameSync(work, dir);
      } catch (error) {
        rmSync(work, { recursive: true, force: true });
        if (!existsSync(dir)) throw error;
      }
      return dir;
    })().finally(() => building.delete(key));
    building.set(key, pending);
  }
  return pending;
}

const SCRATCH = join(ROOT, 'scratch');
const open = new Set<string>();
process.once('exit', () => {
  for (const dir of open) rmSync(dir, { recursive: true, force: true });
});

/** Copies left behind by processes that died before closing their store (kill -9, a crash). */
function sweepOrphans(): void {
  for (const name of readdirSync(SCRATCH)) {
    const pid = Number(name.split('-')[0]);
    if (pid && pid !== process.pid && !processAlive(pid)) {
      rmSync(join(SCRATCH, name), { recursive: true, force: true });
    }
  }
}

/** A private copy of `template`, and the function that deletes it. */
export function scratchCopy(template: string): { dir: string; remove: () => void } {
  mkdirSync(SCRATCH, { recursive: true });
  sweepOrphans();
  const dir = mkdtempSync(join(SCRATCH, `${process.pid}-`));
  open.add(dir);
  const remove = () => {
    open.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    cpSync(template, dir, { recursive: true });
  } catch (error) {
    remove();
    throw error;
  }
  return { dir, remove };
}
