import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tollgate } from '../../src/app.ts';
import { startPortalStack } from './portal-http.ts';

/**
 * Slow clients on the console listener (issue 12, "header/body/request timeouts on both
 * listeners"): a client that never finishes its headers, or announces a body and sends a little
 * of it, is cut off after `console.limits.headersTimeoutMs` / `requestTimeoutMs` instead of
 * holding the connection (and a share of the server) for as long as it likes. Without the
 * settings, Node's defaults held such a connection for 60 s (headers) and 300 s (request).
 */
let tollgate: Tollgate;
let port: number;

beforeAll(async () => {
  tollgate = await startPortalStack('console-timeouts', {
    console: {
      port: 0,
      limits: { headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 1000 },
    },
  });
  port = Number(new URL(tollgate.consoleUrl!).port);
}, 180_000);
afterAll(async () => {
  await tollgate?.stop();
});

/** Opens a connection, sends `head` (and nothing more), and resolves when the server closes it. */
function heldUntilClosed(head: string, ceilingMs: number) {
  return new Promise<{ closed: boolean; answer: string; afterMs: number }>((resolve) => {
    const started = Date.now();
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    const ceiling = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, answer, afterMs: Date.now() - started });
    }, ceilingMs);
    socket.on('data', (data) => {
      answer += data.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(ceiling);
      resolve({ closed: true, answer, afterMs: Date.now() - started });
    });
  });
}

describe('console listener timeouts', () => {
  it('cuts off a client that never finishes its headers', async () => {
    const result = await heldUntilClosed('GET /healthz HTTP/1.1\r\nhost: console\r\nx-slow: ', 45_000);
    expect(result.closed).toBe(true);
    expect(result.answer).toMatch(
      /^HTTP\/1\.1 408 [\s\S]*content-type: application\/problem\+json[\s\S]*"status":408/i,
    );
  }, 180_000);

  it('cuts off a client that announces 1,000 body bytes and sends 10', async () => {
    const result = await heldUntilClosed(
      'POST /api/portal/login HTTP/1.1\r\nhost: console\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"email":"',
      45_000,
    );
    expect(result.closed).toBe(true);
  }, 180_000);

  it('closes an idle keep-alive connection', async () => {
    const result = await heldUntilClosed('GET /healthz HTTP/1.1\r\nhost: console\r\n\r\n', 45_000);
    expect(result.answer).toMatch(/^HTTP\/1\.1 200/);
    expect(result.closed).toBe(true);
  }, 180_000);
});
