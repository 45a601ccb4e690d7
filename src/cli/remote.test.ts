import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { Tollgate } from '../app.ts';
import { createConsoleApp } from '../http/hono.ts';
import { silentLogger } from '../util/log.ts';
import { writeServerFile } from './data-dir.ts';
import { createProgram } from './program.ts';
import type { ProgramOutput } from './program-output.ts';
import { mountCliRoute } from './remote.ts';

const TOKEN = 'tga_remote_test_token_0123456789';

/** A stand-in program: `echo <words…>` prints them; `fail` exits 3 through commander. */
function program(output: ProgramOutput): Command {
  const p = new Command('tollgate').exitOverride().configureOutput(output);
  p.command('echo <words...>').action((words: string[]) => console.log(words.join(' ')));
  p.command('fail').action((_o, c: Command) => c.error('error: no', { exitCode: 3 }));
  return p;
}

function app(tollgate: Tollgate | null) {
  const console = createConsoleApp(silentLogger);
  mountCliRoute(console, { adminToken: TOKEN, tollgate: () => tollgate, createProgram: program });
  return console;
}

const call = (a: ReturnType<typeof app>, body: unknown, token = TOKEN) =>
  a.request('/api/admin/cli', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const live = {} as Tollgate;

describe('POST /api/admin/cli: a command run by the server for another tollgate process', () => {
  it('runs the command and returns what it printed and its exit code', async () => {
    const ok = await call(app(live), { argv: ['echo', 'hello', 'there'], cwd: '/tmp' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ stdout: 'hello there\n', stderr: '', exitCode: 0 });
    const failed = await call(app(live), { argv: ['fail'], cwd: '/tmp' });
    expect(await failed.json()).toMatchObject({ stderr: 'error: no\n', exitCode: 3 });
  });

  it('refuses without the admin token, with a bad body, or before the server has started', async () => {
    for (const token of ['', 'wrong']) {
      const refused = await call(app(live), { argv: ['echo', 'x'], cwd: '/' }, token);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
    }
    for (const body of ['{', { argv: [], cwd: '/' }, { argv: ['echo'] }, { argv: 'echo', cwd: '/' }]) {
      const bad = await call(app(live), body);
      expect(bad.status).toBe(400);
      expect(bad.headers.get('content-type')).toContain('application/problem+json');
    }
    const huge = await call(app(live), { argv: ['echo', 'x'.repeat(300_000)], cwd: '/' });
    expect(huge.status).toBeGreaterThanOrEqual(400);
    expect(huge.status).toBeLessThan(500);
    expect((await call(app(null), { argv: ['echo', 'x'], cwd: '/' })).status).toBe(409);
  });
});

describe('a command that runs only in its own process, while a server owns the store', () => {
  it.each([
    [['migrate'], '`tollgate migrate` needs the store to itself: stop that process first.'],
    [
      ['usage', 'import', 'events.ndjson'],
      '`tollgate usage import` reads its file in a process of its own: stop that process first, or send ' +
        "the events to it (POST http://127.0.0.1:9/api/v1/events, OpenMeter's ingest API, with the admin token).",
    ],
  ])('%j says why and what to do instead', async (argv, why) => {
    const project = mkdtempSync(join(tmpdir(), 'tollgate-local-only-'));
    try {
      const dataDir = join(project, '.tollgate');
      mkdirSync(dataDir);
      writeServerFile(dataDir, {
        pid: process.pid,
        consoleUrl: 'http://127.0.0.1:9',
        gatewayUrl: null,
        startedAt: new Date().toISOString(),
      });
      const run = createProgram({ writeOut: () => {}, writeErr: () => {} }).parseAsync(
        ['--config', join(project, 'tollgate.config.ts'), ...argv],
        { from: 'user' },
      );
      await expect(run).rejects.toThrow(
        `Tollgate is running on ${dataDir} (pid ${process.pid}, http://127.0.0.1:9); ${why}`,
      );
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
