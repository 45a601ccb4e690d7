/** Portal API client: JSON in and out, the CSRF header on every mutating request, problem+json errors. */

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

// ---- shapes (mirror src/portal) ---------------------------------------------------------------

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

export interface User {
  id: string;
  email: string;
  name: string;
  role: 'owner' | 'member';
  customerId: string;
  createdAt: string;
}

export interface Me {
  user: User;
  organisation: { id: string; name: string | null };
}

export interface PriceConfig {
  type: 'flat' | 'unit' | 'tiered' | 'package';
  amount?: string;
  mode?: 'graduated' | 'volume';
  tiers?: { upTo?: number; unitPrice?: string; flatPrice?: string }[];
  quantityPerPackage?: number;
}

export interface PlanFeature {
  rateCardKey: string;
  featureKey: string | null;
  name: string;
  meter: string | null;
  included: number | null;
  unlimited: boolean;
  soft: boolean;
  usagePeriod: string | null;
  boolean: boolean;
  price: PriceConfig | null;
  perMillion: string | null;
  priceText: string | null;
}

export interface Plan {
  key: string;
  name: string;
  description: string | null;
  currency: string;
  billingCadence: string;
  basePrice: string;
  free: boolean;
  trialDays: number | null;
  rateLimit: { limit: number; window: string } | null;
  /** Prepaid credits granted at the start of every billing period. */
  credits: { amount: string; expiresAfter: 'period' | { days: number } } | null;
  features: PlanFeature[];
}

export interface KeyView {
  id: string;
  name: string;
  prefix: string;
  subscriptionId: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  graceUntil?: string | null;
  status: 'active' | 'expired' | 'revoked' | 'rolling';
}

export interface Subscription {
  id: string;
  status: 'trialing' | 'active' | 'past_due' | 'suspended' | 'canceled';
  plan: { key: string; name: string; version: number };
  phase: string;
  currentPeriod: { from: string; to: string };
  cancelAtPeriodEnd: boolean;
  pendingChange: { planKey: string; effectiveAt: string } | null;
  currency: string;
}

export interface Balance {
  featureKey: string;
  featureName: string;
  meterSlug: string | null;
  limit: number | null;
  usage: number;
  soft: boolean;
  periodStart: string;
  resetAt: string;
}

export interface MoneyLine {
  description: string;
  amount: string;
  quantity?: string;
  kind?: 'flat' | 'usage';
}

export interface InvoiceSummary {
  id: string;
  number: string;
  status: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';
  currency: string;
  total: string;
  periodFrom: string | null;
  periodTo: string | null;
  issuedAt: string | null;
  dueAt: string | null;
  paidAt: string | null;
}

export interface InvoiceDetail extends InvoiceSummary {
  subtotal: string;
  tax: string;
  lines: MoneyLine[];
  /** Where to pay an open invoice on the provider's page (Paddle renewals). */
  paymentUrl: string | null;
}

export interface CostSummary {
  currency: string;
  costToDate: string;
  forecast: string;
  periodFrom: string;
  periodTo: string;
  lines: MoneyLine[];
}

export interface Card {
  number: string;
  expiry: string;
  cvc: string;
  name?: string;
}
