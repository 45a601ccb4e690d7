import {
  checkOutboundUrl,
  type OutboundPolicy,
  OutboundRefusedError,
  urlRefusedProblem,
} from '../http/outbound.ts';
import { problems } from '../http/problem.ts';
import type { Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import { eventFilterProblem } from './event-types.ts';
import { readEndpoint, readEndpoints, type WebhookEndpoint } from './repo.ts';
import { newWebhookSecret, webhookSecretProblem } from './secrets.ts';

/**
 * Webhook endpoints: the operator's (every event of their types) and customers' own (that
 * customer's events of their types, delivered only once the customer was shown the secret).
 * Secrets are validated when given, shown when created and when rotated, never again; a rotated
 * secret keeps signing too during an overlap window.
 */
export interface CreatedEndpoint extends WebhookEndpoint {
  /** Shown once, here. */
  secret: string;
}

export interface EndpointInput {
  url: string;
  eventTypes?: string[];
  description?: string | null;
  secret?: string;
  /** A customer's own endpoint: receives only that customer's events. */
  customerId?: string;
  /** False for a customer endpoint until the response that shows its secret is on its way. */
  secretShown?: boolean;
  /** What created it (`budget-alert:<id>`), for `deleteCustomerEndpoints`. */
  source?: string;
}

export interface WebhookEndpoints {
  createEndpoint(input: EndpointInput): Promise<CreatedEndpoint>;
  listEndpoints(filter?: { customerId?: string | null }): Promise<WebhookEndpoint[]>;
  getEndpoint(id: string): Promise<WebhookEndpoint>;
  updateEndpoint(
    id: string,
    input: { url?: string; eventTypes?: string[]; description?: string | null },
  ): Promise<WebhookEndpoint>;
  deleteEndpoint(id: string): Promise<void>;
  /** Deletes a customer's endpoints that `source` created (an alert deleted with its webhook). */
  deleteCustomerEndpoints(customerId: string, source: string): Promise<void>;
  setEnabled(id: string, enabled: boolean): Promise<WebhookEndpoint>;
  /** A new secret (or the given one); the old one keeps signing too until `overlapMs` has passed. */
  rotateSecret(
    id: string,
    input?: { secret?: string; overlapMs?: number },
  ): Promise<{ secret: string; previousSecretExpiresAt: string }>;
  /** The customer has been shown the endpoint's secret: deliveries to it may start. */
  markSecretShown(id: string): Promise<void>;
  /** Refuses (400 naming `field` and the rule) a URL outgoing calls may not reach. */
  checkUrl(url: string, field?: string): Promise<string>;
}

export interface EndpointDeps {
  store: Store;
  clock: Clock;
  /** Which targets outgoing calls may reach. */
  policy: () => OutboundPolicy;
  /** Deliveries may be due now (an endpoint enabled, a secret shown): deliver soon. */
  onDue: () => void;
}

const DEFAULT_OVERLAP_MS = 24 * 3_600_000;

function validateEndpointInput(input: { eventTypes?: string[]; secret?: string }): void {
  const errors: { path: string; message: string }[] = [];
  input.eventTypes?.forEach((entry, i) => {
    const problem = eventFilterProblem(entry);
    if (problem) errors.push({ path: `eventTypes.${i}`, message: problem });
  });
  if (input.secret !== undefined) {
    const problem = webhookSecretProblem(input.secret);
    if (problem) errors.push({ path: 'secret', message: `a webhook secret ${problem}` });
  }
  if (errors.length > 0)
    throw problems.validation(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
}

/** How long the previous secret keeps verifying after a rotation: 0 to 7 days, default one day. */
function rotationOverlapMs(requested: number | undefined): number {
  const overlapMs = requested ?? DEFAULT_OVERLAP_MS;
  if (!Number.isInteger(overlapMs) || overlapMs < 0 || overlapMs > 7 * 86_400_000)
    throw problems.validation('overlapSeconds: between 0 and 7 days', [
      { path: 'overlapSeconds', message: 'between 0 and 604800' },
    ]);
  return overlapMs;
}

// A module factory: one closure over the store, clock and outbound policy holding every endpoint
// operation, the codebase's module shape (one short method per operation).
export function webhookEndpoints(deps: EndpointDeps): WebhookEndpoints & {
  mustEndpoint(id: string): Promise<WebhookEndpoint>;
} {
  const { store, clock, policy } = deps;

  async function mustEndpoint(id: string): Promise<WebhookEndpoint> {
    const endpoint = await readEndpoint(store, id);
    if (!endpoint) throw problems.notFound(`No webhook endpoint ${id}.`);
    return endpoint;
  }

  const endpoints: WebhookEndpoints & { mustEndpoint(id: string): Promise<WebhookEndpoint> } = {
    mustEndpoint,
    async checkUrl(url, field = 'url') {
      try {
        return (await checkOutboundUrl(url, policy())).toString();
      } catch (error) {
        if (error instanceof OutboundRefusedError) throw urlRefusedProblem(error, field);
        throw error;
      }
    },

    async createEndpoint(input) {
      validateEndpointInput(input);
      const url = await endpoints.checkUrl(input.url);
      const secret = input.secret ?? newWebhookSecret();
      const id = newId('whe');
      const now = clock.now();
      await store.query(
        `insert into notify_endpoints (id, url, secret, event_types, description, customer_id, secret_shown_at, source, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
        [
          id,
          url,
          secret,
          JSON.stringify(input.eventTypes ?? []),
          input.description ?? null,
          input.customerId ?? null,
          input.secretShown === false ? null : now,
          input.source ?? null,
          now,
        ],
      );
      return { ...(await mustEndpoint(id)), secret };
    },

    listEndpoints: (filter = {}) => readEndpoints(store, filter),
    getEndpoint: mustEndpoint,

    async updateEndpoint(id, input) {
      validateEndpointInput(input);
      const current = await mustEndpoint(id);
      const url = input.url === undefined ? current.url : await endpoints.checkUrl(input.url);
      await store.query(
        `update notify_endpoints set url = $2, event_types = $3, description = $4, updated_at = $5 where id = $1`,
        [
          id,
          url,
          JSON.stringify(input.eventTypes ?? current.eventTypes),
          input.description === undefined ? current.description : input.description,
          clock.now(),
        ],
      );
      return mustEndpoint(id);
    },

    async deleteEndpoint(id) {
      const rows = await store.query('delete from notify_endpoints where id = $1 returning id', [id]);
      if (rows.length === 0) throw problems.notFound(`No webhook endpoint ${id}.`);
    },

    async deleteCustomerEndpoints(customerId, source) {
      await store.query('delete from notify_endpoints where customer_id = $1 and source = $2', [
        customerId,
        source,
      ]);
    },

    async setEnabled(id, enabled) {
      // Enabling clears the reason and the failure run; pending deliveries resume.
      const rows = await store.query(
        `update notify_endpoints set enabled = $2, updated_at = $3,
           disabled_reason = case when $2 then null else coalesce(disabled_reason, 'Disabled by the operator.') end,
           disabled_at = case when $2 then null else coalesce(disabled_at, $3) end,
           failure_streak = case when $2 then 0 else failure_streak end,
           failing_since = case when $2 then null else failing_since end
         where id = $1 returning id`,
        [id, enabled, clock.now()],
      );
      if (rows.length === 0) throw problems.notFound(`No webhook endpoint ${id}.`);
      if (enabled) deps.onDue();
      return mustEndpoint(id);
    },

    async rotateSecret(id, input = {}) {
      validateEndpointInput({ secret: input.secret });
      const overlapMs = rotationOverlapMs(input.overlapMs);
      const secret = input.secret ?? newWebhookSecret();
      const expires = new Date(clock.now().getTime() + overlapMs);
      const rows = await store.query(
        `update notify_endpoints set previous_secret = secret, previous_secret_expires_at = $3, secret = $2, updated_at = $4
         where id = $1 returning id`,
        [id, secret, expires, clock.now()],
      );
      if (rows.length === 0) throw problems.notFound(`No webhook endpoint ${id}.`);
      return { secret, previousSecretExpiresAt: expires.toISOString() };
    },

    async markSecretShown(id) {
      await store.query(
        'update notify_endpoints set secret_shown_at = coalesce(secret_shown_at, $2) where id = $1',
        [id, clock.now()],
      );
      deps.onDue();
    },
  };
  return endpoints;
}
