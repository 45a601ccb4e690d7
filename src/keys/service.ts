import type { ResolvedConfig } from '../config/index.ts';
import { problems } from '../http/problem.ts';
import type { ChangeFeed, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { parseWindow } from '../util/duration.ts';
import { newId } from '../util/ids.ts';
import { generateKey, type KeyMode } from './format.ts';
import type { ApiKey, CreatedKey, CreateKeyInput } from './model.ts';
import { type ApiKeyRow, KeysRepo } from './repo.ts';

export function toApiKey(row: ApiKeyRow, now: Date): ApiKey {
  const status = row.revoked_at
    ? 'revoked'
    : row.expires_at && row.expires_at.getTime() <= now.getTime()
      ? 'expired'
      : 'active';
  return {
    id: row.id,
    customerId: row.customer_id,
    subscriptionId: row.subscription_id,
    name: row.name,
    prefix: row.prefix,
    metadata: row.metadata,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
    rolledTo: row.rolled_to,
    status,
  };
}

export interface KeysServiceOptions {
  store: Store;
  changes: ChangeFeed;
  clock: Clock;
  /** `billing.rail` 'sandbox' makes `…_test_…` keys. */
  config: Pick<ResolvedConfig, 'keys'> & Partial<Pick<ResolvedConfig, 'billing'>>;
}

/**
 * Key lifecycle: create (secret shown once), list, roll (the old key keeps working for the
 * configured grace period), revoke, expire. Every change that can turn a key off is published on
 * the 'keys' change topic, so every gateway drops it from its cache at once.
 */
export class KeysService {
  readonly repo: KeysRepo;
  readonly #changes: ChangeFeed;
  readonly #clock: Clock;
  /** Read on every use (not copied at construction), so a dev-mode config reload reaches keys. */
  readonly #config: Pick<ResolvedConfig, 'keys'> & Partial<Pick<ResolvedConfig, 'billing'>>;

  constructor(options: KeysServiceOptions) {
    this.repo = new KeysRepo(options.store);
    this.#changes = options.changes;
    this.#clock = options.clock;
    this.#config = options.config;
  }

  /** Keys of an installation taking sandbox payments are test keys (`tg_test_…`). */
  #mode(): KeyMode {
    return this.#config.billing?.rail === 'sandbox' ? 'test' : 'live';
  }

  async create(input: CreateKeyInput): Promise<CreatedKey> {
    const customerId = input.customerId?.trim();
    if (!customerId) throw problems.badRequest('customerId is required');
    const now = this.#clock.now();
    const expiresAt = input.expiresAt ?? null;
    if (expiresAt && (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= now.getTime())) {
      throw problems.badRequest('expiresAt must be a valid time in the future');
    }
    if (input.metadata !== undefined && (typeof input.metadata !== 'object' || input.metadata === null)) {
      throw problems.badRequest('metadata must be an object');
    }
    const generated = generateKey(this.#config.keys.prefix, this.#mode());
    const row = await this.repo.insert({
      id: newId('key'),
      customer_id: customerId,
      subscription_id: input.subscriptionId ?? null,
      name: input.name ?? '',
      prefix: generated.prefix,
      hash: generated.hash,
      metadata: input.metadata ?? {},
      created_at: now,
      expires_at: expiresAt,
    });
    return { key: toApiKey(row, now), secret: generated.raw };
  }

  async list(customerId: string): Promise<ApiKey[]> {
    const now = this.#clock.now();
    return (await this.repo.byCustomer(customerId)).map((row) => toApiKey(row, now));
  }

  async get(id: string): Promise<ApiKey> {
    const row = await this.repo.byId(id);
    if (!row) throw problems.notFound(`no API key with id "${id}"`);
    return toApiKey(row, this.#clock.now());
  }

  /** Issues a successor with the same owner, name and metadata; the old key expires after the grace period. */
  async roll(id: string): Promise<CreatedKey & { previous: ApiKey }> {
    const old = await this.repo.byId(id);
    if (!old) throw problems.notFound(`no API key with id "${id}"`);
    const now = this.#clock.now();
    if (toApiKey(old, now).status !== 'active') {
      throw problems.conflict(`API key "${id}" is ${toApiKey(old, now).status} and cannot be rolled`);
    }
    const created = await this.create({
      customerId: old.customer_id,
      subscriptionId: old.subscription_id,
      name: old.name,
      metadata: old.metadata,
      expiresAt: old.expires_at,
    });
    const graceEnd = new Date(
      now.getTime() + (parseWindow(this.#config.keys.rollGracePeriod) ?? 24 * 3600_000),
    );
    const expiresAt = old.expires_at && old.expires_at < graceEnd ? old.expires_at : graceEnd;
    const updated = await this.repo.update(id, { expires_at: expiresAt, rolled_to: created.key.id });
    await this.#changes.publish({ topic: 'keys', id });
    return { ...created, previous: toApiKey(updated as ApiKeyRow, now) };
  }

  async revoke(id: string): Promise<ApiKey> {
    const old = await this.repo.byId(id);
    if (!old) throw problems.notFound(`no API key with id "${id}"`);
    const now = this.#clock.now();
    const row = old.revoked_at ? old : await this.repo.update(id, { revoked_at: now });
    await this.#changes.publish({ topic: 'keys', id });
    return toApiKey(row as ApiKeyRow, now);
  }

  /** Makes the key stop working at `at` (default: now). */
  async expire(id: string, at?: Date): Promise<ApiKey> {
    const old = await this.repo.byId(id);
    if (!old) throw problems.notFound(`no API key with id "${id}"`);
    const now = this.#clock.now();
    const when = at ?? now;
    if (Number.isNaN(when.getTime())) throw problems.badRequest('expiry time is not a valid date');
    const row = await this.repo.update(id, { expires_at: when });
    await this.#changes.publish({ topic: 'keys', id });
    return toApiKey(row as ApiKeyRow, now);
  }
}
