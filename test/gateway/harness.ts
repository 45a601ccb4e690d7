import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { request } from 'undici';
import { resolveConfig, type TollgateConfigInput } from '../../src/config/index.ts';
import { Gateway, type GatewayOptions } from '../../src/gateway/index.ts';
import { CachedKeyVerifier, KeysService } from '../../src/keys/index.ts';
import type { UsageEvent, UsageLog } from '../../src/metering/events.ts';
import { MemoryCounterStore } from '../../src/ratelimit/memory.ts';
import {
  type ChangeFeed,
  memoryChangeFeed,
  migrate,
  openPGliteStore,
  type Store,
} from '../../src/store/index.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/log.ts';

export const QUICKSTART_DIR = resolve(import.meta.dirname, '../../examples/quickstart');

/** A usage log in memory; `appended` records the order of appends for durability assertions. */
export class MemoryUsageLog implements UsageLog {
  readonly events: UsageEvent[] = [];
  delayMs = 0;
  fail = false;
  async append(events: readonly UsageEvent[]): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.fail) throw new Error('log unavailable');
    this.events.push(...events);
  }
  async close(): Promise<void> {}
}

export interface Shared {
  store: Store;
  changes: ChangeFeed;
  keys: KeysService;
  verifier: CachedKeyVerifier;
}

export async function openShared(): Promise<Shared> {
  const store = await openPGliteStore();
  await migrate(store);
  const changes = memoryChangeFeed();
  const keys = new KeysService({
    store,
    changes,
    clock: systemClock,
    config: { keys: { prefix: 'tg', rollGracePeriod: '1h' } },
  });
  const verifier = new CachedKeyVerifier({ repo: keys.repo, changes, clock: systemClock });
  return { store, changes, keys, verifier };
}

export async function closeShared(shared: Shared): Promise<void> {
  await shared.verifier.close();
  await shared.store.close();
}

export interface Harness {
  gateway: Gateway;
  url: string;
  counters: MemoryCounterStore;
  usage: MemoryUsageLog;
  close(): Promise<void>;
}

export async function startGateway(
  shared: Shared,
  input: Omit<TollgateConfigInput, 'upstream'> & { upstream: TollgateConfigInput['upstream'] },
  extra: Partial<GatewayOptions> = {},
): Promise<Harness> {
  const config = resolveConfig({ ...input }, 'test.config.ts', QUICKSTART_DIR);
  const counters = new MemoryCounterStore();
  const usage = new MemoryUsageLog();
  const gateway = new Gateway({
    config,
    verifier: shared.verifier,
    counters,
    log: silentLogger,
    usageLog: usage,
    ...extra,
  });
  const url = await gateway.listen(0);
  return {
    gateway,
    url,
    counters,
    usage,
    async close() {
      await gateway.close();
      await counters.close();
    },
  };
}

/** A throwaway upstream with a custom handler. */
export async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

export async function get(url: string, key?: string, headers: Record<string, string> = {}) {
  const res = await request(url, {
    headers: key ? { authorization: `Bearer ${key}`, ...headers } : headers,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}
