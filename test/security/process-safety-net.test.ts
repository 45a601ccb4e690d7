import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';

/**
 * Issue 12, fault containment: no request can end the process. A route's inbound policy (code
 * from tollgate.config.ts) leaves a rejected promise nobody awaits and throws inside a timer;
 * Node's default is to exit on either. `tollgate start` must log them and keep serving, so the
 * next request (and the console) still answer. Fails on a build without the safety net: the
 * process exits after the first request.
 */
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-safety-net-'));
const file = join(dir, 'tollgate.config.ts');
let upstream: Server;
let child: ChildProcess;
let gatewayUrl = '';
let consoleUrl = '';
/** Everything the process printed (pino writes its JSON lines to stdout). */
let output = '';
let exitCode: number | null = null;

beforeAll(async () => {
  upstream = createServer((_req, res) => res.end('{"ok":true}'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  writeFileSync(
    file,
    `export default {
  upstream: 'http://127.0.0.1:${(upstream.address() as AddressInfo).port}',
  gateway: { port: 0 },
  console: { port: 0 },
  admin: { token: 'safety-net-admin-token-0123456789' },
  routes: [{ method: 'GET', path: '/v1/fragile', public: true, policies: { inbound: [
    () => {
      void Promise.reject(new Error('a rejection nobody awaits'));
      setTimeout(() => { throw new Error('a throw inside a timer'); }, 0);
      return undefined;
    },
  ] } }],
};
`,
  );
  child = spawn(process.execPath, [MAIN, '-c', file, '--data-dir', join(dir, 'data'), 'start'], {
    env: { ...process.env, NO_COLOR: '1', TOLLGATE_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  child.on('exit', (code) => {
    exitCode = code ?? -1;
  });
  await new Promise<void>((ready, fail) => {
    child.on('exit', (code) => fail(new Error(`tollgate start exited with ${code}: ${output}`)));
    child.stdout?.on('data', () => {
      const gateway = /gateway\s+(http:\/\/\S+)/.exec(output);
      const portal = /portal\s+(http:\/\/\S+?)\/?\s/.exec(output);
      if (gateway && portal) {
        gatewayUrl = gateway[1]!;
        consoleUrl = portal[1]!;
        ready();
      }
    });
  });
}, 120_000);

afterAll(async () => {
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await new Promise<void>((r) => upstream?.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const get = async (url: string) => {
  const res = await request(url);
  await res.body.dump();
  return res.statusCode;
};

it('an asynchronous throw in request work is logged and the process keeps serving', async () => {
  expect(await get(`${gatewayUrl}/v1/fragile`)).toBe(200);
  // Both errors have surfaced once the log says so (stdout carries the JSON log lines).
  await expect
    .poll(() => output.includes('a throw inside a timer') || exitCode !== null, { timeout: 30_000 })
    .toBe(true);
  expect(exitCode).toBeNull();
  expect(await get(`${gatewayUrl}/v1/fragile`)).toBe(200);
  expect(await get(`${consoleUrl}/healthz`)).toBe(200);
  expect(output).toContain('a rejection nobody awaits');
  expect(exitCode).toBeNull();
}, 120_000);
