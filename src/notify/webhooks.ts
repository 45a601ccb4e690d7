import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import {
  checkOutboundUrl,
  createOutboundClient,
  type OutboundClient,
  type OutboundPolicy,
  OutboundRefusedError,
  urlRefusedProblem,
} from '../http/outbound.ts';
import { problems } from '../http/problem.ts';
import type { BaseDatabase, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import type { Logger } from '../util/log.ts';

/**
 * Outgoing webhooks, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature: v1,<base64 HMAC-SHA256>` with a `whsec_…` secret), so receivers verify
 * them with any Standard Webhooks library. Every event is stored once (`notify_messages`) and
 * fanned out to the endpoints that subscribe to its type (`notify_deliveries`: the delivery log).
 * A failed delivery is retried with backoff (5 s, 5 min, 30 min, 2 h, 5 h, 10 h), then marked
 * failed. The same message id is sent on every attempt, so receivers can dedupe.
 *
 * Event types: `WEBHOOK_EVENT_TYPES`. An endpoint subscribes to exact types, `prefix.*`
 * wildcards, or everything (empty list).
 */
export const WEBHOOK_EVENT_TYPES = [
  'invoice.issued',
  'invoice.paid',
  'invoice.payment_failed',
  'invoice.void',
  'invoice.uncollectible',
  'invoice.refunded',
  'subscription.created',
  'subscription.updated',
  'subscription.plan_changed',
  'subscription.change_scheduled',
  'subscription.renewed',
  'subscription.canceled',
  'subscription.status_changed',
  'subscription.past_due',
  'subscription.suspended',
  'subscription.reactivated',
  'credits.topped_up',
  'credits.auto_recharged',
  'budget.alert',
  'usage.threshold',
] as const;

export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000];

export interface WebhookEndpoint {
  id: string;
  url: string;
  /** Shown on creation and to admins; used to sign. */
  secret: string;
  eventTypes: string[];
  description: string | null;
  enabled: boolean;
  createdAt: string;
}

export interface Delivery {
  id: string;
  endpointId: string;
  messageId: string;
  type: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

interface EndpointRow {
  id: string;
  url: string;
  secret: string;
  event_types: string[] | string;
  description: string | null;
  enabled: boolean;
  created_at: Date | string;
}

const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());

function toEndpoint(r: EndpointRow): WebhookEndpoint {
  return {
    id: r.id,
    url: r.url,
    secret: r.secret,
    eventTypes: typeof r.event_types === 'string' ? JSON.parse(r.event_types) : r.event_types,
    description: r.description,
    enabled: r.enabled,
    createdAt: iso(r.created_at) as string,
  };
}

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export function matchesType(subscribed: readonly string[], type: string): boolean {
  if (subscribed.length === 0) return true;
  return subscribed.some(
    (s) => s === type || s === '*' || (s.endsWith('.*') && type.startsWith(s.slice(0, -1))),
  );
}

/** Signs a payload the Standard Webhooks way; returns the three headers. */
export function signWebhook(
  secret: string,
  messageId: string,
  timestamp: Date,
  body: string,
): Record<string, string> {
  const signature = new Webhook(secret).sign(messageId, timestamp, body);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': signature,
  };
}

export interface WebhookService {
  createEndpoint(input: {
    url: string;
    eventTypes?: string[];
    description?: string;
    secret?: string;
  }): Promise<WebhookEndpoint>;
  listEndpoints(): Promise<WebhookEndpoint[]>;
  deleteEndpoint(id: string): Promise<void>;
  setEnabled(id: string, enabled: boolean): Promise<WebhookEndpoint>;
  /** Stores the event and queues a delivery per subscribed endpoint; delivery runs in the background. */
  emit(type: string, data: Record<string, unknown>): Promise<string>;
  /**
   * As `emit`, but only if `claim` (run first, in the same transaction) returns true, e.g. after
   * recording that this event was sent: the record and the event commit together or not at all.
   * Returns the message id, or null when the claim was refused.
   */
  emitOnce(
    type: string,
    data: Record<string, unknown>,
    claim: (tx: Kysely<BaseDatabase>) => Promise<boolean>,
  ): Promise<string | null>;
  /** Attempts every delivery that is due now; returns how many were attempted. */
  deliverDue(): Promise<number>;
  deliveries(filter?: {
    endpointId?: string;
    status?: Delivery['status'];
    limit?: number;
  }): Promise<Delivery[]>;
  /** One signed POST without the queue (portal budget alerts to a customer's URL). */
  sendOnce(url: string, secret: string, type: string, data: Record<string, unknown>): Promise<number>;
  /**
   * Refuses (400 naming `field` and the rule) a URL that outgoing calls may not reach: internal
   * addresses, http outside `tollgate dev`, credentials (src/http/outbound.ts).
   */
  checkUrl(url: string, field?: string): Promise<string>;
  /** Starts the background delivery loop (not for the CLI). */
  start(intervalMs?: number): void;
  stop(): Promise<void>;
}

export function createWebhookService(deps: {
  store: Store;
  clock: Clock;
  log: Logger;
  /** Which targets outgoing calls may reach; default: public https addresses only. */
  policy?: () => OutboundPolicy;
  outbound?: OutboundClient;
  timeoutMs?: number;
}): WebhookService {
  const { store, clock, log } = deps;
  const policy = deps.policy ?? (() => ({ allowHosts: [], requireHttps: true }));
  const outbound = deps.outbound ?? createOutboundClient(policy);
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<number> | null = null;

  async function post(url: string, secret: string, messageId: string, body: string) {
    const headers = signWebhook(secret, messageId, clock.now(), body);
    const response = await outbound.post(url, {
      headers: { 'content-type': 'application/json', 'user-agent': 'Tollgate-Webhooks/1', ...headers },
      body,
      timeoutMs: deps.timeoutMs ?? 15_000,
    });
    return response.status;
  }

  async function attempt(row: {
    id: string;
    url: string;
    secret: string;
    message_id: string;
    type: string;
    payload: unknown;
    created_at: Date | string;
    attempts: number;
  }) {
    const body = JSON.stringify({
      type: row.type,
      timestamp: new Date(row.created_at).toISOString(),
      data: typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload,
    });
    let status: number | null = null;
    let error: string | null = null;
    try {
      status = await post(row.url, row.secret, row.message_id, body);
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      error = (e as Error).message;
    }
    const attempts = row.attempts + 1;
    const now = clock.now();
    if (!error) {
      await store.query(
        `update notify_deliveries set status = 'succeeded', attempts = $2, last_status_code = $3, last_error = null, next_attempt_at = null, updated_at = $4 where id = $1`,
        [row.id, attempts, status, now],
      );
      return;
    }
    const delay = RETRY_SCHEDULE_MS[attempts - 1];
    await store.query(
      `update notify_deliveries set status = $2, attempts = $3, last_status_code = $4, last_error = $5, next_attempt_at = $6, updated_at = $7 where id = $1`,
      [
        row.id,
        delay === undefined ? 'failed' : 'pending',
        attempts,
        status,
        error,
        delay === undefined ? null : new Date(now.getTime() + delay),
        now,
      ],
    );
    log.warn({ delivery: row.id, url: row.url, error, attempts }, 'webhook delivery failed');
  }

  async function deliverDueOnce(): Promise<number> {
    const due = await store.query<{
      id: string;
      url: string;
      secret: string;
      message_id: string;
      type: string;
      payload: unknown;
      created_at: Date | string;
      attempts: number;
    }>(
      `select d.id, e.url, e.secret, d.message_id, m.type, m.payload, m.created_at, d.attempts
       from notify_deliveries d join notify_endpoints e on e.id = d.endpoint_id join notify_messages m on m.id = d.message_id
       where d.status = 'pending' and d.next_attempt_at <= $1 and e.enabled
       order by d.next_attempt_at limit 100`,
      [clock.now()],
    );
    await Promise.all(due.map((d) => attempt(d)));
    return due.length;
  }

  const service: WebhookService = {
    async checkUrl(url, field = 'url') {
      try {
        return (await checkOutboundUrl(url, policy())).toString();
      } catch (error) {
        if (error instanceof OutboundRefusedError) throw urlRefusedProblem(error, field);
        throw error;
      }
    },
    async createEndpoint(input) {
      const url = await service.checkUrl(input.url);
      const secret = input.secret ?? newWebhookSecret();
      if (!secret.startsWith('whsec_')) throw problems.badRequest('A webhook secret starts with "whsec_".');
      const [row] = await store.query<EndpointRow>(
        `insert into notify_endpoints (id, url, secret, event_types, description, created_at) values ($1, $2, $3, $4, $5, $6) returning *`,
        [
          newId('whe'),
          url,
          secret,
          JSON.stringify(input.eventTypes ?? []),
          input.description ?? null,
          clock.now(),
        ],
      );
      return toEndpoint(row as EndpointRow);
    },
    async listEndpoints() {
      return (await store.query<EndpointRow>('select * from notify_endpoints order by created_at, id')).map(
        toEndpoint,
      );
    },
    async deleteEndpoint(id) {
      const rows = await store.query('delete from notify_endpoints where id = $1 returning id', [id]);
      if (rows.length === 0) throw problems.notFound(`No webhook endpoint ${id}.`);
    },
    async setEnabled(id, enabled) {
      const [row] = await store.query<EndpointRow>(
        'update notify_endpoints set enabled = $2 where id = $1 returning *',
        [id, enabled],
      );
      if (!row) throw problems.notFound(`No webhook endpoint ${id}.`);
      return toEndpoint(row);
    },
    async emit(type, data) {
      return (await service.emitOnce(type, data, async () => true)) as string;
    },
    async emitOnce(type, data, claim) {
      const messageId = newId('msg');
      const now = clock.now();
      // Read before the transaction: the embedded store has one connection.
      const endpoints = (await service.listEndpoints()).filter(
        (e) => e.enabled && matchesType(e.eventTypes, type),
      );
      const claimed = await store.transaction(async (tx) => {
        if (!(await claim(tx))) return false;
        await sql`insert into notify_messages (id, type, payload, created_at) values (${messageId}, ${type}, ${JSON.stringify(data)}, ${now})`.execute(
          tx,
        );
        for (const e of endpoints) {
          await sql`insert into notify_deliveries (id, endpoint_id, message_id, status, next_attempt_at, created_at, updated_at)
                    values (${newId('dlv')}, ${e.id}, ${messageId}, 'pending', ${now}, ${now}, ${now})`.execute(
            tx,
          );
        }
        return true;
      });
      if (!claimed) return null;
      if (endpoints.length > 0 && timer) void service.deliverDue().catch(() => undefined);
      return messageId;
    },
    async deliverDue() {
      // one pass at a time per process
      while (running) await running;
      running = deliverDueOnce();
      try {
        return await running;
      } finally {
        running = null;
      }
    },
    async deliveries(filter = {}) {
      const rows = await store.query<{
        id: string;
        endpoint_id: string;
        message_id: string;
        type: string;
        status: Delivery['status'];
        attempts: number;
        next_attempt_at: Date | null;
        last_status_code: number | null;
        last_error: string | null;
        created_at: Date;
        updated_at: Date;
      }>(
        `select d.*, m.type from notify_deliveries d join notify_messages m on m.id = d.message_id
         where ($1::text is null or d.endpoint_id = $1) and ($2::text is null or d.status = $2)
         order by d.created_at desc, d.id desc limit $3`,
        [filter.endpointId ?? null, filter.status ?? null, Math.min(filter.limit ?? 100, 1000)],
      );
      return rows.map((r) => ({
        id: r.id,
        endpointId: r.endpoint_id,
        messageId: r.message_id,
        type: r.type,
        status: r.status,
        attempts: r.attempts,
        nextAttemptAt: iso(r.next_attempt_at),
        lastStatusCode: r.last_status_code,
        lastError: r.last_error,
        createdAt: iso(r.created_at) as string,
        updatedAt: iso(r.updated_at) as string,
      }));
    },
    async sendOnce(url, secret, type, data) {
      const body = JSON.stringify({ type, timestamp: clock.now().toISOString(), data });
      return post(url, secret, newId('msg'), body);
    },
    start(intervalMs = 1000) {
      if (timer) return;
      timer = setInterval(() => {
        service.deliverDue().catch((error) => log.error({ err: error }, 'webhook delivery loop failed'));
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      while (running) await running.catch(() => undefined);
      if (!deps.outbound) await outbound.close();
    },
  };
  return service;
}
