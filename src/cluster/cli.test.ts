import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addScaleOutOptions, scaleOutStartOptions } from './cli.ts';
import { parseRole } from './roles.ts';

/** Parses `tollgate [globals] start [options]` as the CLI does and returns the error message, if any. */
function parse(args: string[]): {
  message: string | null;
  options?: ReturnType<typeof scaleOutStartOptions>;
} {
  let options: ReturnType<typeof scaleOutStartOptions> | undefined;
  const program = new Command('tollgate')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .option('--database <url>')
    .option('--nats <url>');
  addScaleOutOptions(program.command('start').option('--role <role>', '', 'all'))
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .action((_opts: unknown, command: Command) => {
      options = scaleOutStartOptions(command);
    });
  try {
    program.parse(['node', 'tollgate', ...args]);
    return { message: null, options };
  } catch (error) {
    return { message: (error as Error).message };
  }
}

describe('tollgate start (scale-out options)', () => {
  it.each([
    [['start', '--role', 'bogus'], 'unknown role "bogus": use one of all, gateway, worker, console'],
    [['start', '--role', 'gateway'], '--role gateway runs one part of Tollgate on shared backends'],
    [['--database', 'postgres://u@h/x', 'start', '--role', 'gateway'], '--role gateway needs --nats'],
    [
      ['start', '--workers', '2'],
      '--workers runs several gateway processes on one port; use it with --role gateway',
    ],
    [['start', '--workers', 'many'], '--workers must be a whole number from 1 to 256'],
    [['start', '--health-port', '99999'], '--health-port must be a port number'],
  ])('refuses %j with a one-line reason', (args, message) => {
    expect(parse(args).message).toContain(message);
  });

  it('accepts a scale-out gateway with cluster workers and a health port', () => {
    const parsed = parse([
      '--database',
      'postgres://u@h/x',
      '--nats',
      'nats://h:4222',
      'start',
      '--role',
      'gateway',
      '--workers',
      '4',
      '--health-port',
      '9090',
    ]);
    expect(parsed).toEqual({ message: null, options: { role: 'gateway', workers: 4, healthPort: 9090 } });
  });

  it('parses roles case-insensitively and defaults to all', () => {
    expect(parseRole(undefined)).toBe('all');
    expect(parseRole(' Gateway ')).toBe('gateway');
    expect(() => parseRole('edge')).toThrow(/unknown role "edge"/);
  });

  it('the real CLI prints the reason and exits with 1', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.TOLLGATE_DATABASE_URL;
    const main = join(import.meta.dirname, '../cli/main.ts');
    const result = spawnSync(process.execPath, [main, 'start', '--role', 'worker'], {
      encoding: 'utf8',
      env,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.split('\n')[0]).toContain(
      '--role worker runs one part of Tollgate on shared backends',
    );
  });
});
