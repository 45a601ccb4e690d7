export { allowAllAccessResolver, defaultRateLimitSpec, upgradeUrlOf } from './fallback-access.ts';
export { GatewayMetrics } from './metrics.ts';
export { type CompiledRoute, Router, routesFromConfig, routesFromOpenApi } from './router.ts';
export { Gateway, type GatewayOptions } from './server.ts';
export { SseUsageScanner, type TokenUsage, tokensFromJson } from './token-usage.ts';
