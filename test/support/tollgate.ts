import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import type { ResolvedConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/util/log.ts';

/** A new, empty data directory of its own (parallel test files and runs never share one). */
export function tempDataDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `tollgate-${name}-`));
}

/** Tollgate in process for a test: in-memory database, both listeners on free ports, no logs. */
export function startTestTollgate(config: ResolvedConfig, name: string): Promise<Tollgate> {
  return startTollgate({
    config,
    database: ':memory:',
    dataDir: tempDataDir(name),
    gatewayPort: 0,
    consolePort: 0,
    dev: true,
    log: createLogger({ level: 'silent' }),
  });
}
