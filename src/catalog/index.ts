/** What other modules may import from the catalog (billing rates with it, the portal prices with it). */
export {
  describeEntitlement,
  describePrice,
  describeRateLimit,
  diffPlanDefinitions,
  type PlanChange,
} from './diff.ts';
export type { Feature, PhaseDefinition, Plan, PlanDefinition, PlanStatus, PlanVersion } from './model.ts';
export { definitionHash, normalizePlan, phaseOf } from './normalize.ts';
export { type CatalogTables, toPlanVersion } from './repo.ts';
export {
  type CatalogInput,
  type CatalogService,
  type CatalogSyncResult,
  createCatalogService,
  type PlanAction,
  type PlanSyncItem,
} from './service.ts';
