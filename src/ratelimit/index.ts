export { type GcraDecision, gcra } from './gcra.ts';
export { MemoryCounterStore } from './memory.ts';
export type { CounterStore, QuotaResult, QuotaSpec, RateLimitResult, RateLimitSpec } from './types.ts';
