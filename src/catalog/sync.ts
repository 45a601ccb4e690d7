import type { FeatureConfig, PlanConfig } from '../config/index.ts';
import { diffPlanDefinitions, type PlanChange } from './diff.ts';
import type { Feature, PlanDefinition } from './model.ts';
import { canonical, definitionHash, normalizePlan } from './normalize.ts';
import {
  type CatalogDb,
  countSubscriptions,
  selectFeatures,
  selectLatestHashes,
  selectPlanRows,
  selectVersion,
} from './repo.ts';

/**
 * What a catalog push would do, computed from the config and the stored catalog without writing
 * anything: `tollgate plans diff` shows it, and a push applies it (sync-apply.ts).
 */

/** The parts of the config the catalog reads. */
export interface CatalogInput {
  features: FeatureConfig[];
  plans: PlanConfig[];
}

export type PlanAction = 'create' | 'publish' | 'unchanged' | 'archive' | 'delete' | 'restore';

export interface PlanSyncItem {
  key: string;
  name: string;
  action: PlanAction;
  /** Latest published version before the push (null for a new plan). */
  fromVersion: number | null;
  /** Latest version after the push (null when deleted). */
  toVersion: number | null;
  /** Subscriptions that are not canceled, on any version of the plan. */
  subscribers: number;
  changes: PlanChange[];
}

export interface CatalogSyncResult {
  features: { added: string[]; changed: string[]; archived: string[] };
  plans: PlanSyncItem[];
  /** True when push changed anything. */
  changed: boolean;
}

/** A plan's part of a push, with what applying it needs (the new definition, its hash, its order). */
export type PlannedPlan = PlanSyncItem & {
  definition: PlanDefinition | null;
  hash: string | null;
  position: number;
};

/** What a push would do: computed first (for `plans diff` too), then applied in the same transaction. */
export interface ComputedSync {
  features: CatalogSyncResult['features'];
  plans: PlannedPlan[];
}

type PlanRow = Awaited<ReturnType<typeof selectPlanRows>>[number];
type SubscriptionCounts = Awaited<ReturnType<typeof countSubscriptions>>;
type LatestHashes = Awaited<ReturnType<typeof selectLatestHashes>>;

/** Features new in the config, changed in it (or archived and back), and gone from it. */
function featureChanges(existing: Feature[], input: CatalogInput): CatalogSyncResult['features'] {
  const featureResult: CatalogSyncResult['features'] = { added: [], changed: [], archived: [] };
  const existingFeatures = new Map(existing.map((f) => [f.key, f]));
  for (const f of input.features) {
    const old = existingFeatures.get(f.key);
    if (!old) featureResult.added.push(f.key);
    else if (
      old.archivedAt ||
      old.name !== f.name ||
      (old.description ?? undefined) !== f.description ||
      (old.meter ?? undefined) !== f.meter ||
      JSON.stringify(canonical(old.meterGroupByFilters)) !==
        JSON.stringify(canonical(f.meterGroupByFilters ?? {}))
    )
      featureResult.changed.push(f.key);
  }
  const configured = new Set(input.features.map((f) => f.key));
  for (const f of existing) if (!configured.has(f.key) && !f.archivedAt) featureResult.archived.push(f.key);
  return featureResult;
}

/** Each configured plan, in config order: created, republished as N+1, restored or unchanged. */
async function configuredPlans(
  tx: CatalogDb,
  input: CatalogInput,
  stored: { planRows: PlanRow[]; latest: LatestHashes; usage: SubscriptionCounts },
): Promise<PlannedPlan[]> {
  const { planRows, latest, usage } = stored;
  const plans: PlannedPlan[] = [];
  const rowsByKey = new Map(planRows.map((r) => [r.key, r]));
  for (const [position, planConfig] of input.plans.entries()) {
    const definition = normalizePlan(planConfig);
    const hash = definitionHash(definition);
    const row = rowsByKey.get(planConfig.key);
    const subscribers = usage.get(planConfig.key)?.live ?? 0;
    if (!row) {
      plans.push({
        key: planConfig.key,
        name: planConfig.name,
        action: 'create',
        fromVersion: null,
        toVersion: 1,
        subscribers,
        changes: diffPlanDefinitions(null, definition),
        definition,
        hash,
        position,
      });
      continue;
    }
    const current = latest.get(row.key);
    const unchanged = current?.hash === hash;
    let changesList: PlanChange[] = [];
    if (!unchanged) {
      const old = await selectVersion(tx, row.key, row.latest_version);
      changesList = diffPlanDefinitions(old?.definition ?? null, definition);
    }
    const action: PlanAction = row.status === 'archived' ? 'restore' : unchanged ? 'unchanged' : 'publish';
    plans.push({
      key: row.key,
      name: planConfig.name,
      action,
      fromVersion: row.latest_version,
      toVersion: unchanged ? row.latest_version : row.latest_version + 1,
      subscribers,
      changes: changesList,
      definition: unchanged ? null : definition,
      hash,
      position,
    });
  }
  return plans;
}

/** Active plans gone from the config: archived when anyone ever subscribed, deleted otherwise. */
function removedPlans(input: CatalogInput, planRows: PlanRow[], usage: SubscriptionCounts): PlannedPlan[] {
  const plans: PlannedPlan[] = [];
  const inConfig = new Set(input.plans.map((p) => p.key));
  for (const row of planRows) {
    if (inConfig.has(row.key) || row.status === 'archived') continue;
    const counts = usage.get(row.key);
    const everUsed = (counts?.all ?? 0) > 0;
    plans.push({
      key: row.key,
      name: row.name,
      action: everUsed ? 'archive' : 'delete',
      fromVersion: row.latest_version,
      toVersion: everUsed ? row.latest_version : null,
      subscribers: counts?.live ?? 0,
      changes: [],
      definition: null,
      hash: null,
      position: row.position,
    });
  }
  return plans;
}

export async function computeSync(tx: CatalogDb, input: CatalogInput): Promise<ComputedSync> {
  const features = await selectFeatures(tx);
  const planRows = await selectPlanRows(tx);
  const latest = await selectLatestHashes(tx);
  const usage = await countSubscriptions(tx);
  return {
    features: featureChanges(features, input),
    plans: [
      ...(await configuredPlans(tx, input, { planRows, latest, usage })),
      ...removedPlans(input, planRows, usage),
    ],
  };
}

export function summarize(computed: ComputedSync): CatalogSyncResult {
  return {
    features: computed.features,
    plans: computed.plans.map(({ definition: _d, hash: _h, position: _p, ...item }) => item),
    changed:
      computed.features.added.length + computed.features.changed.length + computed.features.archived.length >
        0 || computed.plans.some((p) => p.action !== 'unchanged'),
  };
}
