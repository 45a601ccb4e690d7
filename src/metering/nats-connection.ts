import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../util/log.ts';

/**
 * `nats://user:password@host` or `nats://token@host`: the client library does not read
 * credentials from a server URL (the server answered "Authorization Violation"), so they are
 * taken out and passed as options, and never appear in an error message.
 */
function natsServers(url: string): {
  servers: string[];
  auth: { user?: string; pass?: string; token?: string };
} {
  const auth: { user?: string; pass?: string; token?: string } = {};
  const servers = url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((server) => {
      const m = /^([a-z]+:\/\/)([^@/]*)@(.*)$/i.exec(server);
      if (m === null) return server;
      const [userinfo = '', rest = ''] = [m[2], m[3]];
      const colon = userinfo.indexOf(':');
      if (colon >= 0) {
        auth.user = decodeURIComponent(userinfo.slice(0, colon));
        auth.pass = decodeURIComponent(userinfo.slice(colon + 1));
      } else {
        auth.token = decodeURIComponent(userinfo);
      }
      return `${m[1]}${rest}`;
    });
  return { servers, auth };
}

export async function connectNats(url: string, name: string, log?: Logger): Promise<NatsConnection> {
  const { servers, auth } = natsServers(url);
  try {
    const nc = await connect({
      servers,
      ...auth,
      name,
      // Keep reconnecting forever: a NATS restart must not need a Tollgate restart.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 50,
      pingInterval: 5_000,
      timeout: 5_000,
    });
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') log?.warn({ server: status.server }, 'nats: disconnected');
        else if (status.type === 'reconnect') log?.info({ server: status.server }, 'nats: reconnected');
      }
    })().catch(() => {});
    return nc;
  } catch (error) {
    throw new Error(`cannot connect to NATS at ${servers.join(',')}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
