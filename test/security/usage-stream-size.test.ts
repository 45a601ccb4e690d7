import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../src/metering/events.ts';
import { openJetStreamUsageLog } from '../../src/metering/jetstream.ts';
import { freePort, NATS_URL, reachable, servicesAvailable, uniqueName } from '../scale-out/services.ts';

/**
 * Issue 12, scale-out: NATS reserves a stream's max_bytes when it is created, against the
 * account's and the server's JetStream storage (nats-server server/jetstream.go,
 * `checkBytesLimits`), so the fixed 10 GiB default kept Tollgate from starting on a smaller
 * store. Unset, the size now fits the store (and the start-up line names it); a setting the
 * account or server cannot hold fails start-up with one line naming the setting.
 */
const available = await servicesAvailable('nats');
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const dirs: string[] = [];
const servers: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => {});
  for (const server of servers) server.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A nats-server of its own with the given JetStream config (e.g. a small store). */
async function natsWith(config: (dir: string) => string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-nats-size-'));
  dirs.push(dir);
  const port = await freePort();
  writeFileSync(join(dir, 'nats.conf'), `listen: 127.0.0.1:${port}\n${config(dir)}\n`);
  servers.push(spawn('nats-server', ['-c', join(dir, 'nats.conf')], { stdio: 'ignore' }));
  const deadline = Date.now() + 60_000;
  while (!(await reachable(`nats://127.0.0.1:${port}`, port))) {
    if (Date.now() > deadline) throw new Error('nats-server did not start in 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return `nats://127.0.0.1:${port}`;
}

/** Opens the usage log as a gateway does; returns it with the log lines it wrote. */
async function open(url: string, maxBytes?: number) {
  const stream = uniqueName('TGSIZE');
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const usage = await openJetStreamUsageLog({
    url,
    stream,
    subject: `tgsize.${stream.toLowerCase()}`,
    ...(maxBytes !== undefined && { maxBytes }),
    log,
  });
  cleanups.push(async () => {
    await usage.close();
    const nc = await connect({ servers: url });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
    await nc.close();
  });
  return { usage, stream, lines: () => lines.map((l) => JSON.parse(l).msg as string) };
}

const event: UsageEvent = {
  specversion: '1.0',
  id: 'size-1',
  source: 'usage-stream-size-test',
  type: 'request',
  subject: 'cus_size',
  time: new Date().toISOString(),
  data: { route: '/v1/size' },
};

describe.skipIf(!available)('usage stream size against the JetStream store', () => {
  it('on the shared server, unset: the 10 GiB default, named in the start-up line', async () => {
    const { usage, stream, lines } = await open(NATS_URL);
    expect(usage.streamSize).toMatchObject({ bytes: 10 * GiB, explicit: false });
    expect(lines()).toContain(
      `usage stream "${stream}": at most 10 GiB on each NATS server's disk (the default (scaleOut.usageStreamLimits.maxBytes not set))`,
    );
    await usage.append([event]);
    expect((await usage.streamInfo()).messages).toBe(1);
  });

  it('on the shared server, a setting above what the server can hold: one clear start-up error', async () => {
    const error = await open(NATS_URL, 2 ** 50).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /^NATS cannot reserve 1 PiB \(scaleOut\.usageStreamLimits\.maxBytes\) for the usage stream "TGSIZE[^"]*": lower the setting or give JetStream more storage/,
    );
  });

  it('a server with a 1 GiB store: unset, the stream takes a share of it and works', async () => {
    const url = await natsWith((dir) => `jetstream { store_dir: "${dir}", max_file_store: 1GB }`);
    const { usage, stream, lines } = await open(url);
    // The old fixed 10 GiB was refused here: Tollgate did not start.
    expect(usage.streamSize.bytes).toBeGreaterThanOrEqual(64 * MiB);
    expect(usage.streamSize.bytes).toBeLessThanOrEqual(512 * MiB);
    expect(lines().some((l) => l.startsWith(`usage stream "${stream}": at most `))).toBe(true);
    expect(usage.streamSize.why).toMatch(/NATS server's JetStream store/);
    await usage.append([event]);
    expect((await usage.streamInfo()).messages).toBe(1);
    // A second process (another gateway, a restart) keeps that size instead of choosing again.
    const again = await openJetStreamUsageLog({ url, stream, subject: `tgsize.${stream.toLowerCase()}` });
    expect(again.streamSize.bytes).toBe(usage.streamSize.bytes);
    await again.close();

    const refused = await open(url, 2 * GiB).catch((e: Error) => e);
    expect((refused as Error).message).toMatch(
      /^NATS cannot reserve 2 GiB \(scaleOut\.usageStreamLimits\.maxBytes\)/,
    );
  });

  it("an account with a storage limit: unset, half the account's room; a larger setting is refused before asking", async () => {
    const url = await natsWith(
      (dir) => `jetstream { store_dir: "${dir}", max_file_store: 4GB }
accounts { APP: { jetstream: { max_file: 512MB, max_mem: 64MB }, users: [{ user: app, password: app-secret }] } }
no_auth_user: app`,
    );
    const withUser = url; // no_auth_user: connections without credentials are the account's user
    const { usage } = await open(withUser);
    expect(usage.streamSize.bytes).toBe(256 * MiB); // max_file 512MB means MiB to nats-server
    expect(usage.streamSize.why).toMatch(/^half of the 512 MiB the NATS account leaves/);
    await usage.append([event]);

    // Credentials in the URL are used (the client library ignores them there) and never shown.
    const { usage: withPassword } = await open(url.replace('nats://', 'nats://app:app-secret@'));
    expect(withPassword.streamSize.bytes).toBe(128 * MiB); // half of what the first stream left
    const wrong = await open(url.replace('nats://', 'nats://app:not-the-secret@')).catch((e: Error) => e);
    expect((wrong as Error).message).toMatch(/^cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: /);
    expect((wrong as Error).message).not.toContain('not-the-secret');

    const error = await open(withUser, GiB).catch((e: Error) => e);
    expect((error as Error).message).toMatch(
      /^scaleOut\.usageStreamLimits\.maxBytes is 1 GiB, but the NATS account leaves the usage stream "TGSIZE[^"]*" at most 128 MiB of JetStream storage/,
    );
  });
});
