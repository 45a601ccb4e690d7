import { problems } from '../../http/problem.ts';
import type { ApiKey, KeysService } from '../../keys/index.ts';
import type { KeysPort, KeyView } from '../dependencies.ts';
import { iso } from './iso.ts';

/** The keys module as the portal's keys page uses it, scoped by the session's customer. */
function keyView(key: ApiKey): KeyView {
  const rolling = key.status === 'active' && key.rolledTo !== null;
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    customerId: key.customerId,
    subscriptionId: key.subscriptionId,
    createdAt: iso(key.createdAt)!,
    expiresAt: iso(key.expiresAt),
    lastUsedAt: iso(key.lastUsedAt),
    revokedAt: iso(key.revokedAt),
    graceUntil: rolling ? iso(key.expiresAt) : null,
    status: rolling ? 'rolling' : key.status,
  };
}

export function keysPort(keys: KeysService): KeysPort {
  async function own(customerId: string, keyId: string): Promise<ApiKey> {
    const found = (await keys.list(customerId)).find((k) => k.id === keyId);
    if (!found) {
      throw problems.notFound('No such API key.');
    }
    return found;
  }
  return {
    async list(customerId) {
      return (await keys.list(customerId)).map(keyView);
    },
    async create(customerId, input) {
      const created = await keys.create({
        customerId,
        name: input.name,
        expiresAt: input.expiresAt,
        subscriptionId: input.subscriptionId,
      });
      return { key: keyView(created.key), secret: created.secret };
    },
    async roll(customerId, keyId) {
      await own(customerId, keyId);
      const created = await keys.roll(keyId);
      return { key: keyView(created.key), secret: created.secret };
    },
    async revoke(customerId, keyId) {
      await own(customerId, keyId);
      await keys.revoke(keyId);
    },
  };
}
