import { sql } from 'kysely';
import type { ChangeFeed, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Feature, Plan, PlanVersion } from './model.ts';
import {
  type CatalogTables,
  countSubscriptions,
  selectFeatures,
  selectPlans,
  selectVersion,
  selectVersionById,
  selectVersions,
  toFeature,
  toPlanVersion,
} from './repo.ts';
import { type CatalogInput, type CatalogSyncResult, computeSync, summarize } from './sync.ts';
import { applySync } from './sync-apply.ts';

export type { CatalogInput, CatalogSyncResult, PlanAction, PlanSyncItem } from './sync.ts';

/**
 * The catalog: features and versioned plans, published from `tollgate.config.ts`. Push compares
 * each plan with its latest published version: unchanged → nothing; changed → version N+1 (its
 * subscribers stay on N until migrated); gone from the config → archived when anyone ever
 * subscribed (a plan in use is never deleted), deleted otherwise.
 */
export interface CatalogService {
  /** What `sync` would do, changing nothing (`tollgate plans diff`). */
  preview(config: CatalogInput): Promise<CatalogSyncResult>;
  /** Publishes the config's features and plans (start-up and `tollgate plans push`). One transaction. */
  sync(config: CatalogInput): Promise<CatalogSyncResult>;
  listFeatures(): Promise<Feature[]>;
  getFeature(key: string): Promise<Feature | null>;
  /** All plans, in config order (archived ones last). */
  listPlans(): Promise<Plan[]>;
  getPlan(key: string): Promise<Plan | null>;
  listPlanVersions(planKey: string): Promise<PlanVersion[]>;
  getPlanVersion(planKey: string, version: number): Promise<PlanVersion | null>;
  getPlanVersionById(id: string): Promise<PlanVersion | null>;
  getLatestPlanVersion(planKey: string): Promise<PlanVersion | null>;
  /** Latest version of every active public plan, in config order: the pricing page. */
  listPublicPlans(): Promise<PlanVersion[]>;
  /** Latest version of every active plan (public or not), in config order. */
  listActivePlans(): Promise<PlanVersion[]>;
  /** Subscriptions that are not canceled, per plan key. */
  subscriberCounts(): Promise<Map<string, number>>;
}

export interface CatalogDeps {
  store: Store;
  changes: ChangeFeed;
  clock: Clock;
}

const SYNC_LOCK = 7_316_101; // pg_advisory_xact_lock key: one catalog push at a time

export function createCatalogService(deps: CatalogDeps): CatalogService {
  const { store, changes, clock } = deps;
  const db = store.db.withTables<CatalogTables>();
  // Published versions never change: cache them forever by id and by (plan, version).
  const versionsById = new Map<string, PlanVersion>();
  const remember = (v: PlanVersion | null) => {
    if (v) versionsById.set(v.id, v);
    return v;
  };

  const service: CatalogService = {
    async preview(input) {
      return summarize(await computeSync(db, input));
    },

    async sync(input) {
      const result = await store.transaction(async (trx) => {
        const tx = trx.withTables<CatalogTables>();
        await sql`select pg_advisory_xact_lock(${SYNC_LOCK})`.execute(tx);
        const computed = await computeSync(tx, input);
        await applySync(tx, input, computed, clock.now());
        return summarize(computed);
      });
      if (result.changed) await changes.publish({ topic: 'catalog', id: '*' });
      return result;
    },

    listFeatures: () => selectFeatures(db),
    async getFeature(key) {
      const row = await db
        .selectFrom('catalog_features')
        .selectAll()
        .where('key', '=', key)
        .executeTakeFirst();
      return row ? toFeature(row) : null;
    },
    listPlans: () => selectPlans(db),
    async getPlan(key) {
      return (await selectPlans(db)).find((p) => p.key === key) ?? null;
    },
    async listPlanVersions(planKey) {
      return (await selectVersions(db, planKey)).map((v) => remember(v)!);
    },
    async getPlanVersion(planKey, version) {
      for (const v of versionsById.values()) if (v.planKey === planKey && v.version === version) return v;
      return remember(await selectVersion(db, planKey, version));
    },
    async getPlanVersionById(id) {
      return versionsById.get(id) ?? remember(await selectVersionById(db, id));
    },
    async getLatestPlanVersion(planKey) {
      const row = await db
        .selectFrom('catalog_plans')
        .select('latest_version')
        .where('key', '=', planKey)
        .executeTakeFirst();
      return row ? service.getPlanVersion(planKey, row.latest_version) : null;
    },
    async subscriberCounts() {
      const counts = await countSubscriptions(db);
      return new Map([...counts].map(([key, c]) => [key, c.live]));
    },
    async listPublicPlans() {
      return (await service.listActivePlans()).filter((v) => v.definition.public);
    },
    async listActivePlans() {
      const rows = await db
        .selectFrom('catalog_plan_versions as v')
        .innerJoin('catalog_plans as p', (j) =>
          j.onRef('p.key', '=', 'v.plan_key').onRef('p.latest_version', '=', 'v.version'),
        )
        .selectAll('v')
        .where('p.status', '=', 'active')
        .orderBy('p.position')
        .execute();
      return rows.map((r) => remember(toPlanVersion(r))!);
    },
  };
  return service;
}
