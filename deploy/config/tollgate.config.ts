import { defineConfig } from 'tollgate';

/**
 * Example configuration for the deployments in this folder (Compose mounts this directory at
 * /app/config; Kubernetes uses the ConfigMap in k8s/configmap.yaml, a copy of this file).
 * Listeners bind 0.0.0.0 inside containers; the upstream is read from the environment.
 */
export default defineConfig({
  name: 'Acme API',
  upstream: process.env.TOLLGATE_UPSTREAM ?? 'http://upstream:4010',
  gateway: { host: '0.0.0.0', port: 8080 },
  console: { host: '0.0.0.0', port: 8081, publicUrl: process.env.TOLLGATE_CONSOLE_URL },
  routes: [{ method: '*', path: '/v1/*', feature: 'api_requests' }],
  meters: [{ slug: 'requests', eventType: 'request', aggregation: 'COUNT', groupBy: { route: '$.route' } }],
  features: [{ key: 'api_requests', name: 'API requests', meter: 'requests' }],
  plans: [
    {
      key: 'free',
      name: 'Free',
      rateLimit: { limit: 100, window: '1m' },
      rateCards: [
        {
          key: 'requests',
          feature: 'api_requests',
          entitlement: { type: 'metered', limit: 1000, usagePeriod: 'P1M' },
        },
      ],
    },
  ],
  scaleOut: {
    // Redis down: keep serving with per-node limits ('open') or refuse with 503 ('closed').
    onRedisError: 'open',
  },
});
