/** Portal API client: JSON in and out, the CSRF header on every mutating request, problem+json errors. */

import type { PortalUser } from '../../src/portal/api-types.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
  [key: string]: unknown;
}

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail ?? problem.title);
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
  /** Field → message, for forms. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.problem.errors ?? []) out[e.path] = e.message;
    return out;
  }
}

function csrfToken(): string {
  const match = /(?:^|;\s*)tg_csrf=([^;]+)/.exec(document.cookie);
  return match ? decodeURIComponent(match[1]!) : '';
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`/api/portal${path}`, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const problem = (json as Problem | null) ?? {
      type: 'about:blank',
      title: response.statusText || 'Request failed',
      status: response.status,
    };
    throw new ApiError(problem);
  }
  return json as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body: unknown = {}) => api<T>('POST', path, body);
export const put = <T>(path: string, body: unknown = {}) => api<T>('PUT', path, body);
export const del = <T>(path: string) => api<T>('DELETE', path);

// ---- shapes ----------------------------------------------------------------------------------
// The portal API's own types (src/portal/api-types.ts): type-only, so nothing of the server reaches
// the bundle, and a change to a response shape fails the typecheck of the pages that read it.

export type {
  CardInput as Card,
  CostSummary,
  CreditAccountView as CreditAccount,
  CreditEntryView as CreditEntry,
  CreditsView,
  EntitlementBalance as Balance,
  InvoiceDetail,
  InvoiceSummary,
  KeyView,
  MoneyLine,
  PlanFeatureView as PlanFeature,
  PlanView as Plan,
  PortalUser as User,
  SubscriptionView as Subscription,
  TopUpResult,
} from '../../src/portal/api-types.ts';

// Built by the portal's HTTP layer itself (no port type).

export interface PortalConfig {
  name: string;
  apiName: string;
  branding: { name: string; logoUrl: string | null; primaryColor: string };
  gatewayUrl: string | null;
  rail: 'sandbox' | 'stripe' | 'invoice' | null;
  /** The configured rail by name: a hosted rail ('stripe' above) may be Stripe or Paddle. */
  railName: string | null;
  devMailbox: boolean;
  hasOpenapi: boolean;
  services: { keys: boolean; subscriptions: boolean; usage: boolean; billing: boolean };
  csrfToken: string;
}

export interface Me {
  user: PortalUser;
  organisation: { id: string; name: string | null };
}
