import { startTollgate, type Tollgate } from '../../src/app.ts';
import type { ResolvedConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/util/log.ts';

/** Tollgate in process for a test: in-memory database, both listeners on free ports, no logs. */
export function startTestTollgate(config: ResolvedConfig, name: string): Promise<Tollgate> {
  return startTollgate({
    config,
    database: ':memory:',
    dataDir: `/tmp/tollgate-${name}`,
    gatewayPort: 0,
    consolePort: 0,
    dev: true,
    log: createLogger({ level: 'silent' }),
  });
}
