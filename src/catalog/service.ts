import { sql } from 'kysely';
import type { FeatureConfig, PlanConfig } from '../config/index.ts';
import type { ChangeFeed, Store } from '../store/index.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import { diffPlanDefinitions, type PlanChange } from './diff.ts';
import type { Feature, Plan, PlanDefinition, PlanVersion } from './model.ts';
import { canonical, definitionHash, normalizePlan } from './normalize.ts';
import {
  type CatalogDb,
  type CatalogTables,
  countSubscriptions,
  selectFeatures,
  selectLatestHashes,
  selectPlanRows,
  selectPlans,
  selectVersion,
  selectVersionById,
  selectVersions,
  toFeature,
  toPlanVersion,
} from './repo.ts';

/**
 * The catalog: features and versioned plans, published from `tollgate.config.ts`. Push compares
 * each plan with its latest published version: unchanged → nothing; changed → version N+1 (its
 * subscribers stay on N until migrated); gone from the config → archived when anyone ever
 * subscribed (a plan in use is never deleted), deleted otherwise.
 */
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

/** The parts of the config the catalog reads. */
export interface CatalogInput {
  features: FeatureConfig[];
  plans: PlanConfig[];
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

  async function computeSync(tx: CatalogDb, input: CatalogInput) {
    const features = await selectFeatures(tx);
    const planRows = await selectPlanRows(tx);
    const latest = await selectLatestHashes(tx);
    const usage = await countSubscriptions(tx);

    const featureResult: CatalogSyncResult['features'] = { added: [], changed: [], archived: [] };
    const existingFeatures = new Map(features.map((f) => [f.key, f]));
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
    for (const f of features) if (!configured.has(f.key) && !f.archivedAt) featureResult.archived.push(f.key);

    const plans: (PlanSyncItem & {
      definition: PlanDefinition | null;
      hash: string | null;
      position: number;
    })[] = [];
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
    return { features: featureResult, plans };
  }

  const summarize = (computed: Awaited<ReturnType<typeof computeSync>>): CatalogSyncResult => ({
    features: computed.features,
    plans: computed.plans.map(({ definition: _d, hash: _h, position: _p, ...item }) => item),
    changed:
      computed.features.added.length + computed.features.changed.length + computed.features.archived.length >
        0 || computed.plans.some((p) => p.action !== 'unchanged'),
  });

  async function apply(
    tx: CatalogDb,
    input: CatalogInput,
    computed: Awaited<ReturnType<typeof computeSync>>,
  ) {
    const now = clock.now();
    for (const f of input.features) {
      const values = {
        name: f.name,
        description: f.description ?? null,
        meter: f.meter ?? null,
        meter_group_by_filters: JSON.stringify(f.meterGroupByFilters ?? {}),
        archived_at: null,
        updated_at: now,
      };
      await tx
        .insertInto('catalog_features')
        .values({ key: f.key, ...values })
        .onConflict((oc) => oc.column('key').doUpdateSet(values))
        .execute();
    }
    for (const key of computed.features.archived) {
      await tx.updateTable('catalog_features').set({ archived_at: now }).where('key', '=', key).execute();
    }
    for (const plan of computed.plans) {
      switch (plan.action) {
        case 'create':
          await tx
            .insertInto('catalog_plans')
            .values({
              key: plan.key,
              name: plan.name,
              latest_version: 1,
              position: plan.position,
              status: 'active',
              archived_at: null,
              created_at: now,
              updated_at: now,
            })
            .execute();
          break;
        case 'unchanged':
        case 'publish':
        case 'restore':
          await tx
            .updateTable('catalog_plans')
            .set({
              name: plan.name,
              position: plan.position,
              status: 'active',
              archived_at: null,
              latest_version: plan.toVersion!,
              updated_at: now,
            })
            .where('key', '=', plan.key)
            .execute();
          break;
        case 'archive':
          await tx
            .updateTable('catalog_plans')
            .set({
              status: 'archived',
              archived_at: now,
              updated_at: now,
              position: 1_000_000 + plan.position,
            })
            .where('key', '=', plan.key)
            .execute();
          break;
        case 'delete':
          await tx.deleteFrom('catalog_plans').where('key', '=', plan.key).execute();
          break;
      }
      if (plan.definition && plan.toVersion !== null) {
        await tx
          .insertInto('catalog_plan_versions')
          .values({
            id: newId('plv'),
            plan_key: plan.key,
            version: plan.toVersion,
            definition: JSON.stringify(plan.definition),
            definition_hash: plan.hash!,
            published_at: now,
          })
          .execute();
      }
    }
  }

  const service: CatalogService = {
    async preview(input) {
      return summarize(await computeSync(db, input));
    },

    async sync(input) {
      const result = await store.transaction(async (trx) => {
        const tx = trx.withTables<CatalogTables>();
        await sql`select pg_advisory_xact_lock(${SYNC_LOCK})`.execute(tx);
        const computed = await computeSync(tx, input);
        await apply(tx, input, computed);
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
