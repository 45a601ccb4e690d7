import type { Store } from '../store/index.ts';

/** Reads of the webhook tables (`notify_*`, migrations 0701 and 0703), as the API shows them. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  eventTypes: string[];
  description: string | null;
  enabled: boolean;
  /** Why it is disabled (410 Gone, a run of failures, the operator), or null. */
  disabledReason: string | null;
  disabledAt: string | null;
  /** Set for a customer's own endpoint (budget alerts). */
  customerId: string | null;
  /** Until then, deliveries are signed with the previous secret as well. */
  previousSecretExpiresAt: string | null;
  createdAt: string;
  updatedAt: string | null;
}

export interface Delivery {
  id: string;
  endpointId: string;
  messageId: string;
  type: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryAttempt {
  id: string;
  attemptedAt: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface DeliveryFilter {
  id?: string;
  endpointId?: string;
  /** Only deliveries to this customer's endpoints. */
  customerId?: string;
  status?: Delivery['status'];
  /** Paging: deliveries created before this one (newest first). */
  before?: string;
  limit?: number;
}

type Time = Date | string;
const iso = (v: Time) => new Date(v).toISOString();
const isoOrNull = (v: Time | null) => (v === null ? null : iso(v));

interface EndpointRow {
  id: string;
  url: string;
  event_types: string[] | string;
  description: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: Time | null;
  customer_id: string | null;
  previous_secret_expires_at: Time | null;
  created_at: Time;
  updated_at: Time | null;
}

const ENDPOINT_COLUMNS = `id, url, event_types, description, enabled, disabled_reason, disabled_at, customer_id,
  previous_secret_expires_at, created_at, updated_at`;

function toEndpoint(r: EndpointRow): WebhookEndpoint {
  return {
    id: r.id,
    url: r.url,
    eventTypes: typeof r.event_types === 'string' ? JSON.parse(r.event_types) : r.event_types,
    description: r.description,
    enabled: r.enabled,
    disabledReason: r.disabled_reason,
    disabledAt: isoOrNull(r.disabled_at),
    customerId: r.customer_id,
    previousSecretExpiresAt: isoOrNull(r.previous_secret_expires_at),
    createdAt: iso(r.created_at),
    updatedAt: isoOrNull(r.updated_at),
  };
}

export async function readEndpoint(store: Store, id: string): Promise<WebhookEndpoint | null> {
  const [row] = await store.query<EndpointRow>(
    `select ${ENDPOINT_COLUMNS} from notify_endpoints where id = $1`,
    [id],
  );
  return row ? toEndpoint(row) : null;
}

/** `customerId`: that customer's endpoints; null: the operator's; absent: all. */
export async function readEndpoints(
  store: Store,
  filter: { customerId?: string | null },
): Promise<WebhookEndpoint[]> {
  const rows = await store.query<EndpointRow>(
    `select ${ENDPOINT_COLUMNS} from notify_endpoints
     where ($1::boolean or customer_id is not distinct from $2::text) order by created_at, id`,
    [filter.customerId === undefined, filter.customerId ?? null],
  );
  return rows.map(toEndpoint);
}

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  message_id: string;
  type: string;
  status: Delivery['status'];
  attempts: number;
  next_attempt_at: Time | null;
  last_attempt_at: Time | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Time;
  updated_at: Time;
}

export async function readDeliveries(store: Store, filter: DeliveryFilter): Promise<Delivery[]> {
  const rows = await store.query<DeliveryRow>(
    `select d.id, d.endpoint_id, d.message_id, m.type, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at,
            d.last_status_code, d.last_error, d.created_at, d.updated_at
     from notify_deliveries d
     join notify_messages m on m.id = d.message_id
     join notify_endpoints e on e.id = d.endpoint_id
     where ($1::text is null or d.id = $1) and ($2::text is null or d.endpoint_id = $2)
       and ($3::text is null or e.customer_id = $3) and ($4::text is null or d.status = $4)
       and ($5::text is null or (d.created_at, d.id) < (select c.created_at, c.id from notify_deliveries c where c.id = $5))
     order by d.created_at desc, d.id desc limit $6`,
    [
      filter.id ?? null,
      filter.endpointId ?? null,
      filter.customerId ?? null,
      filter.status ?? null,
      filter.before ?? null,
      Math.min(Math.max(filter.limit ?? 100, 1), 1000),
    ],
  );
  return rows.map((r) => ({
    id: r.id,
    endpointId: r.endpoint_id,
    messageId: r.message_id,
    type: r.type,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.status === 'pending' ? isoOrNull(r.next_attempt_at) : null,
    lastAttemptAt: isoOrNull(r.last_attempt_at),
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  }));
}

export async function readAttempts(store: Store, deliveryId: string): Promise<DeliveryAttempt[]> {
  const rows = await store.query<{
    id: string;
    attempted_at: Time;
    status_code: number | null;
    error: string | null;
    duration_ms: number;
  }>(
    `select id, attempted_at, status_code, error, duration_ms from notify_attempts where delivery_id = $1
     order by attempted_at, id`,
    [deliveryId],
  );
  return rows.map((r) => ({
    id: r.id,
    attemptedAt: iso(r.attempted_at),
    statusCode: r.status_code,
    error: r.error,
    durationMs: r.duration_ms,
  }));
}
