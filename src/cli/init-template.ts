/** The `tollgate.config.ts` that `tollgate init` writes (./init.ts asks for the inputs). */

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export interface Operation {
  method: string;
  path: string;
  summary?: string;
}

/** The operations of an OpenAPI document, in document order. */
export function operationsOf(document: Record<string, unknown>): Operation[] {
  const paths = document.paths;
  if (!paths || typeof paths !== 'object') return [];
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(paths as Record<string, unknown>)) {
    if (!path.startsWith('/') || !item || typeof item !== 'object') continue;
    for (const method of METHODS) {
      const op = (item as Record<string, unknown>)[method];
      if (!op || typeof op !== 'object') continue;
      const summary = (op as { summary?: unknown }).summary;
      operations.push({
        method: method.toUpperCase(),
        path,
        summary: typeof summary === 'string' ? summary.replace(/\s+/g, ' ').trim() : undefined,
      });
    }
  }
  return operations;
}

/**
 * Where the document says the API is: its first server's URL with its variables' defaults, or
 * a relative one (`/v1`) on `base`. Null without a usable `servers` entry. The gateway prepends
 * the upstream URL's path to each call, so `/pets` reaches `…/v1/pets` as the document means.
 */
export function upstreamOf(document: Record<string, unknown>, base: string): string | null {
  const servers = document.servers;
  const first = Array.isArray(servers) ? (servers[0] as { url?: unknown; variables?: unknown }) : undefined;
  if (!first || typeof first.url !== 'string') return null;
  const variables = (first.variables ?? {}) as Record<string, { default?: unknown }>;
  const url = first.url.replace(/\{([^}]+)\}/g, (whole, name: string) => {
    const value = variables[name]?.default;
    return typeof value === 'string' ? value : whole;
  });
  if (url.includes('{')) return null;
  if (url.startsWith('/'))
    return url === '/' ? base : `${base.replace(/\/+$/, '')}${url.replace(/\/+$/, '')}`;
  return /^https?:\/\/[^/]/.test(url) ? url.replace(/\/+$/, '') : null;
}

/** A single-quoted TypeScript string literal. */
const q = (value: string) =>
  `'${JSON.stringify(value).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;

function routeLines(operations: Operation[]): string {
  if (operations.length === 0) {
    // No document: every path of the upstream is sold as "API requests".
    return ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']
      .map((method) => `    { method: '${method}', path: '/*', feature: 'api_requests' },`)
      .join('\n');
  }
  return operations
    .map((op) => {
      const comment = op.summary ? ` // ${op.summary.slice(0, 80).replace(/\*\//g, '* /')}` : '';
      return `    { method: ${q(op.method)}, path: ${q(op.path)}, feature: 'api_requests' },${comment}`;
    })
    .join('\n');
}

export interface ConfigInputs {
  name: string;
  upstream: string;
  /** Relative path of the OpenAPI document, if there is one. */
  openapi?: string;
  operations: Operation[];
}

export function renderConfig(inputs: ConfigInputs): string {
  const openapi = inputs.openapi
    ? `  // The API reference in the portal.\n  openapi: ${q(inputs.openapi)},\n`
    : '';
  return `import { defineConfig } from 'tollgate';

/**
 * Tollgate in front of ${inputs.name.replace(/\*\//g, '* /')}: API keys, rate limits, quotas, metering, plans and
 * payments. \`npx tollgate dev\` runs the gateway, the developer portal and sandbox payments;
 * edits to this file are applied while it runs. Every field: the Configuration section of Tollgate’s README.
 */
export default defineConfig({
  name: ${q(inputs.name)},
  // Your API: the gateway forwards each allowed call here.
  upstream: process.env.UPSTREAM_URL ?? ${q(inputs.upstream)},
${openapi}
  // What the gateway lets through. Each call counts against the plan's \`api_requests\` (its quota and price);
  // a key without a plan is refused. Give a route a feature of its own to sell it only on plans that include it.
  routes: [
${routeLines(inputs.operations)}
  ],
  // A route added later without a feature (an operation new in the OpenAPI document) is sold as API requests
  // too; \`x-tollgate: { public: true }\` on an operation opens it to everyone.
  gateway: { defaultFeature: 'api_requests' },

  meters: [{ slug: 'requests', name: 'API requests', eventType: 'request', aggregation: 'COUNT', groupBy: { route: '$.route' } }],
  features: [{ key: 'api_requests', name: 'API requests', meter: 'requests' }],

  plans: [
    {
      key: 'free',
      name: 'Free',
      description: '1,000 requests a month.',
      rateLimit: { limit: 60, window: '1m' },
      rateCards: [
        { key: 'requests', feature: 'api_requests', entitlement: { type: 'metered', limit: 1000, usagePeriod: 'P1M' } },
      ],
    },
    {
      key: 'pro',
      name: 'Pro',
      description: '$29 a month for 100,000 requests, then $0.50 per 1,000.',
      rateLimit: { limit: 600, window: '1m' },
      rateCards: [
        { key: 'base', name: 'Pro subscription', price: { type: 'flat', amount: '29.00' } },
        {
          key: 'requests',
          feature: 'api_requests',
          price: { type: 'tiered', mode: 'graduated', tiers: [{ upTo: 100_000, unitPrice: '0' }, { unitPrice: '0.0005' }] },
          entitlement: { type: 'metered', limit: 100_000, softLimit: true, usagePeriod: 'P1M' },
        },
      ],
    },
  ],

  // Sandbox payments (card 4242 4242 4242 4242) until you configure Stripe: { type: 'stripe', secretKey, webhookSecret }.
  billing: { rail: 'sandbox' },
  portal: { branding: { name: ${q(inputs.name)} } },
});
`;
}
