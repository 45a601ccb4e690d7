import { Writable } from 'node:stream';
import pc from 'picocolors';
import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (pino), one line per event, for machines. `pretty` prints the same events
 * as short coloured lines for a person at a terminal (`tollgate dev`, `npm start`).
 * `TOLLGATE_LOG_LEVEL` overrides the level; tests default to silent.
 */
export function createLogger(options: { level?: string; name?: string; pretty?: boolean } = {}): Logger {
  const level = process.env.TOLLGATE_LOG_LEVEL ?? options.level ?? (process.env.VITEST ? 'silent' : 'info');
  const base = { level, name: options.name ?? 'tollgate', base: undefined };
  return options.pretty ? pino(base, prettyStream(process.stdout)) : pino(base);
}

export const silentLogger: Logger = pino({ level: 'silent' });

const LEVELS: Record<number, (text: string) => string> = {
  10: (t) => pc.dim(`trace ${t}`),
  20: (t) => pc.dim(`debug ${t}`),
  30: (t) => `${pc.green('info ')} ${t}`,
  40: (t) => `${pc.yellow('warn ')} ${t}`,
  50: (t) => `${pc.red('error')} ${t}`,
  60: (t) => `${pc.bgRed('fatal')} ${t}`,
};
const HIDDEN = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

function prettyLine(line: string): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = new Date(Number(event.time)).toISOString().slice(11, 19);
  const fields = Object.entries(event)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => {
      if (k === 'err' && v && typeof v === 'object' && 'stack' in v)
        return `\n${String((v as { stack: unknown }).stack)}`;
      return pc.dim(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
    })
    .join(' ');
  const format = LEVELS[Number(event.level)] ?? ((t: string) => t);
  return `${pc.dim(time)} ${format(String(event.msg ?? ''))} ${fields}`.trimEnd();
}

function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) out.write(`${prettyLine(line)}\n`);
      done();
    },
  });
}
