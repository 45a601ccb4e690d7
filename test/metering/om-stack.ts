import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenMeter } from '@openmeter/sdk';
import { startTollgate, type Tollgate } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/index.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/** One meter per aggregation over `tokens` events, plus a negative-allowing and a strict meter. */
export const OM_METERS = [
  {
    slug: 'tokens',
    name: 'AI tokens',
    eventType: 'tokens',
    aggregation: 'SUM',
    valueProperty: '$.tokens',
    groupBy: { model: '$.model', type: '$.type' },
  },
  { slug: 'tokens_count', eventType: 'tokens', aggregation: 'COUNT', groupBy: { model: '$.model' } },
  { slug: 'tokens_avg', eventType: 'tokens', aggregation: 'AVG', valueProperty: '$.tokens' },
  { slug: 'tokens_min', eventType: 'tokens', aggregation: 'MIN', valueProperty: '$.tokens' },
  { slug: 'tokens_max', eventType: 'tokens', aggregation: 'MAX', valueProperty: '$.tokens' },
  { slug: 'tokens_latest', eventType: 'tokens', aggregation: 'LATEST', valueProperty: '$.tokens' },
  { slug: 'models', eventType: 'tokens', aggregation: 'UNIQUE_COUNT', valueProperty: '$.model' },
  {
    slug: 'balance',
    eventType: 'adjustment',
    aggregation: 'SUM',
    valueProperty: '$.amount',
    allowNegative: true,
  },
  { slug: 'strict_bytes', eventType: 'upload', aggregation: 'SUM', valueProperty: '$.bytes', strict: true },
  { slug: 'requests', eventType: 'request', aggregation: 'COUNT' },
];

export interface OmStack {
  tollgate: Tollgate;
  om: OpenMeter;
  url: string;
  /** A raw request to the console listener with the admin token. */
  call(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * Tollgate (embedded store, every role) with the meters above (and any more config, e.g. features
 * and plans), and an OpenMeter client for it.
 */
export async function startOmStack(
  meters: unknown[] = OM_METERS,
  more: Record<string, unknown> = {},
): Promise<OmStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-om-'));
  const config = resolveConfig(
    { upstream: 'http://127.0.0.1:9', admin: { token: ADMIN_TOKEN }, meters, ...more },
    'test.config.ts',
    dataDir,
  );
  const tollgate = await startTollgate({
    config,
    database: ':memory:',
    dataDir,
    role: 'all',
    gatewayPort: 0,
    consolePort: 0,
  });
  const url = tollgate.consoleUrl as string;
  return {
    tollgate,
    om: new OpenMeter({ baseUrl: url, apiKey: ADMIN_TOKEN }),
    url,
    call: (path, init = {}) =>
      fetch(`${url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers as Record<string, string>) },
      }),
    async stop() {
      await tollgate.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
