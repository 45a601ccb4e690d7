import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OpenMeter } from '@openmeter/sdk';
import { expect, it } from 'vitest';

/**
 * docs/openmeter.md's "Served" table and the OpenMeter client suite cannot drift apart: every SDK
 * call the table says Tollgate serves is a method of `@openmeter/sdk` and is called through it
 * (`om.<resource>.<method>(`) in test/metering/openmeter-*.test.ts, and every row says how it is
 * served.
 */
const root = resolve(import.meta.dirname, '../..');

function servedRows(): { method: string; path: string; call: string; status: string; notes: string }[] {
  const doc = readFileSync(join(root, 'docs/openmeter.md'), 'utf8');
  const start = doc.indexOf('### Served');
  const end = doc.indexOf('### Not served');
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  return doc
    .slice(start, end)
    .split('\n')
    .filter((line) => /^\| `[A-Z]+` \|/.test(line))
    .map((line) => {
      const [method, path, call, status, notes] = line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim().replace(/^`|`$/g, ''));
      return {
        method: method ?? '',
        path: path ?? '',
        call: call ?? '',
        status: status ?? '',
        notes: notes ?? '',
      };
    });
}

it('every SDK call of the Served table is an SDK method and is called in the OpenMeter client suite', () => {
  const rows = servedRows();
  expect(rows.length).toBeGreaterThanOrEqual(19);
  const om = new OpenMeter({ baseUrl: 'http://127.0.0.1:9' }) as unknown as Record<
    string,
    Record<string, unknown>
  >;
  const dir = join(root, 'test/metering');
  const suite = readdirSync(dir)
    .filter((f) => /^openmeter-.*\.test\.ts$/.test(f) && f !== 'openmeter-table.test.ts')
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  const missing: string[] = [];
  for (const row of rows) {
    const [resource, method] = row.call.split('.');
    expect(typeof om[resource ?? '']?.[method ?? ''], row.call).toBe('function');
    expect(row.status, row.call).toMatch(/^identical|^documented difference/);
    expect(row.notes.length, row.call).toBeGreaterThan(10);
    if (!new RegExp(`\\bom\\.${resource}\\.${method}\\(`).test(suite)) missing.push(row.call);
  }
  expect(missing).toEqual([]);
});
