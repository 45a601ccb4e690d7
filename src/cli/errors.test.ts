import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/index.ts';
import { CliError, describeError } from './errors.ts';

describe('the one line a failed command prints', () => {
  it('is the message alone for errors that say what to do', () => {
    expect(describeError(new CliError('do this'))).toBe('do this');
    expect(describeError(new ConfigError('tollgate.config.ts', [{ path: 'upstream', message: 'bad' }]))).toBe(
      'tollgate.config.ts is not valid:\n  - upstream: bad',
    );
  });

  it('names the port in use and the flags that choose another, instead of a stack trace', async () => {
    const first = createServer();
    await new Promise<void>((ready) => first.listen(0, '127.0.0.1', ready));
    const port = (first.address() as AddressInfo).port;
    const second = createServer();
    const error = await new Promise<unknown>((done) => {
      second.once('error', done);
      second.listen(port, '127.0.0.1');
    });
    await new Promise((done) => first.close(done));
    const line = describeError(error);
    expect(line).toBe(
      `Port ${port} on 127.0.0.1 is in use by another program. Choose others with --port (gateway) and ` +
        '--console-port (portal), or TOLLGATE_PORT and TOLLGATE_CONSOLE_PORT; 0 takes any free port.',
    );
  });
});
