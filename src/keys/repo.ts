import type { Store } from '../store/index.ts';

/** A stored key row (the secret itself is never stored, only its hash). */
export interface ApiKeyRow {
  id: string;
  customer_id: string;
  subscription_id: string | null;
  name: string;
  prefix: string;
  hash: string;
  metadata: Record<string, unknown>;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  rolled_to: string | null;
}

export interface KeysTables {
  api_keys: ApiKeyRow;
}

const COLUMNS =
  'id, customer_id, subscription_id, name, prefix, hash, metadata, created_at, expires_at, revoked_at, last_used_at, rolled_to';

function toDate(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v : new Date(String(v));
}

function normalize(row: Record<string, unknown>): ApiKeyRow {
  return {
    id: String(row.id),
    customer_id: String(row.customer_id),
    subscription_id: (row.subscription_id as string | null) ?? null,
    name: String(row.name ?? ''),
    prefix: String(row.prefix),
    hash: String(row.hash),
    metadata:
      typeof row.metadata === 'string'
        ? (JSON.parse(row.metadata) as Record<string, unknown>)
        : ((row.metadata as Record<string, unknown> | null) ?? {}),
    created_at: toDate(row.created_at) as Date,
    expires_at: toDate(row.expires_at),
    revoked_at: toDate(row.revoked_at),
    last_used_at: toDate(row.last_used_at),
    rolled_to: (row.rolled_to as string | null) ?? null,
  };
}

/** SQL for api_keys. Raw parameterised queries: the verifier's miss path is a hot path too. */
export class KeysRepo {
  readonly #store: Store;
  constructor(store: Store) {
    this.#store = store;
  }

  async insert(row: Omit<ApiKeyRow, 'last_used_at' | 'revoked_at' | 'rolled_to'>): Promise<ApiKeyRow> {
    const rows = await this.#store.query(
      `insert into api_keys (id, customer_id, subscription_id, name, prefix, hash, metadata, created_at, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9) returning ${COLUMNS}`,
      [
        row.id,
        row.customer_id,
        row.subscription_id,
        row.name,
        row.prefix,
        row.hash,
        JSON.stringify(row.metadata),
        row.created_at,
        row.expires_at,
      ],
    );
    return normalize(rows[0] as Record<string, unknown>);
  }

  async byId(id: string): Promise<ApiKeyRow | null> {
    const rows = await this.#store.query(`select ${COLUMNS} from api_keys where id = $1`, [id]);
    return rows[0] ? normalize(rows[0]) : null;
  }

  async byHash(hash: string): Promise<ApiKeyRow | null> {
    const rows = await this.#store.query(`select ${COLUMNS} from api_keys where hash = $1`, [hash]);
    return rows[0] ? normalize(rows[0]) : null;
  }

  async byCustomer(customerId: string): Promise<ApiKeyRow[]> {
    const rows = await this.#store.query(
      `select ${COLUMNS} from api_keys where customer_id = $1 order by created_at, id`,
      [customerId],
    );
    return rows.map(normalize);
  }

  async update(
    id: string,
    fields: Partial<Pick<ApiKeyRow, 'expires_at' | 'revoked_at' | 'rolled_to' | 'name' | 'metadata'>>,
  ): Promise<ApiKeyRow | null> {
    const sets: string[] = [];
    const params: unknown[] = [id];
    for (const [column, value] of Object.entries(fields)) {
      params.push(column === 'metadata' ? JSON.stringify(value) : value);
      sets.push(`${column} = $${params.length}${column === 'metadata' ? '::jsonb' : ''}`);
    }
    if (sets.length === 0) return this.byId(id);
    const rows = await this.#store.query(
      `update api_keys set ${sets.join(', ')} where id = $1 returning ${COLUMNS}`,
      params,
    );
    return rows[0] ? normalize(rows[0]) : null;
  }

  async touch(ids: readonly string[], at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.#store.query(
      'update api_keys set last_used_at = $2 where id = any($1::text[]) and (last_used_at is null or last_used_at < $2)',
      [ids, at],
    );
  }
}
