import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/index.ts';
import { PG_URL } from '../support/postgres.ts';

/** `tollgate webhooks …` as an operator runs it (each command a new process, on PostgreSQL). */
const run = promisify(execFile);
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-webhooks-cli-'));
const configFile = join(dir, 'tollgate.config.ts');
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
  writeFileSync(
    configFile,
    `export default {
  upstream: 'http://127.0.0.1:9',
  notifications: { allowHosts: ['127.0.0.1'] },
};
`,
  );
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const admin = await openPostgresStore(PG_URL, { max: 1 });
  await admin.exec(`drop schema ${schema} cascade`);
  await admin.close();
});

async function tollgate(...args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    [MAIN, '-c', configFile, '--database', database, '--data-dir', join(dir, 'data'), ...args],
    { env: { ...process.env, TOLLGATE_LOG_LEVEL: 'warn', NO_COLOR: '1' }, timeout: 120_000 },
  );
  return stdout;
}

describe('tollgate webhooks', () => {
  it('creates, updates, disables, enables, rotates, queues a test event, lists and replays it', async () => {
    const created = JSON.parse(
      await tollgate('webhooks', 'create', 'http://127.0.0.1:9/hooks', '--events', 'invoice.*', '--json'),
    ) as { id: string; secret: string; eventTypes: string[] };
    expect(created.secret).toMatch(/^whsec_/);
    expect(created.eventTypes).toEqual(['invoice.*']);
    // Unknown event types are refused, naming the entry.
    await expect(
      tollgate('webhooks', 'update', created.id, '--events', 'invoice.payed'),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining('invoice.payed'),
    });
    const listed = await tollgate('webhooks', 'endpoints');
    expect(listed).toContain(created.id);
    expect(listed).not.toContain(created.secret);
    const disabled = JSON.parse(await tollgate('webhooks', 'disable', created.id, '--json'));
    expect(disabled).toMatchObject({ enabled: false, disabledReason: 'Disabled by the operator.' });
    expect(JSON.parse(await tollgate('webhooks', 'enable', created.id, '--json'))).toMatchObject({
      enabled: true,
    });
    const rotated = JSON.parse(
      await tollgate('webhooks', 'rotate-secret', created.id, '--overlap', '60', '--json'),
    );
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);

    expect(await tollgate('webhooks', 'test', created.id)).toMatch(/^Queued msg_/);
    const deliveries = JSON.parse(
      await tollgate('webhooks', 'deliveries', '--endpoint', created.id, '--json'),
    ) as {
      id: string;
      type: string;
      status: string;
    }[];
    expect(deliveries).toMatchObject([{ type: 'webhook.test', status: 'pending' }]);
    expect(await tollgate('webhooks', 'replay', deliveries[0]!.id)).toContain('again');
    expect(
      await tollgate('webhooks', 'replay', '--endpoint', created.id, '--from', '2000-01-01T00:00:00Z'),
    ).toContain('Queued 1 deliveries again.');
    expect(await tollgate('webhooks', 'event-types')).toContain('invoice.payment_failed');
  }, 300_000);
});
