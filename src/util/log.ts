import { type Logger, pino } from 'pino';

export type { Logger };

/** Structured JSON logs (pino). `TOLLGATE_LOG_LEVEL` overrides the level; tests default to silent. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const level = process.env.TOLLGATE_LOG_LEVEL ?? options.level ?? (process.env.VITEST ? 'silent' : 'info');
  return pino({ level, name: options.name ?? 'tollgate', base: undefined });
}

export const silentLogger: Logger = pino({ level: 'silent' });
