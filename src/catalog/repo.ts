import type { Kysely } from 'kysely';
import type { Feature, Plan, PlanDefinition, PlanStatus, PlanVersion } from './model.ts';

/** Catalog tables as Kysely sees them. */
export type CatalogTables = {
  catalog_features: {
    key: string;
    name: string;
    description: string | null;
    meter: string | null;
    meter_group_by_filters: Record<string, string> | string;
    created_at?: Date;
    updated_at?: Date;
    archived_at: Date | null;
  };
  catalog_plans: {
    key: string;
    name: string;
    latest_version: number;
    position: number;
    status: PlanStatus;
    created_at?: Date;
    updated_at?: Date;
    archived_at: Date | null;
  };
  catalog_plan_versions: {
    id: string;
    plan_key: string;
    version: number;
    definition: PlanDefinition | string;
    definition_hash: string;
    published_at: Date;
  };
  // Read only here: how many subscriptions use a plan (a plan in use is archived, never deleted).
  subscriptions: { id: string; plan_key: string; plan_version: number; status: string };
};

export type CatalogDb = Kysely<CatalogTables>;

const json = <T>(value: T | string): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

export function toFeature(row: CatalogTables['catalog_features']): Feature {
  return {
    key: row.key,
    name: row.name,
    description: row.description,
    meter: row.meter,
    meterGroupByFilters: json(row.meter_group_by_filters) ?? {},
    archivedAt: row.archived_at,
  };
}

export function toPlan(row: CatalogTables['catalog_plans']): Plan {
  return {
    key: row.key,
    name: row.name,
    status: row.status,
    latestVersion: row.latest_version,
    createdAt: row.created_at ?? new Date(0),
    archivedAt: row.archived_at,
  };
}

export function toPlanVersion(row: CatalogTables['catalog_plan_versions']): PlanVersion {
  return {
    id: row.id,
    planKey: row.plan_key,
    version: row.version,
    definition: json(row.definition),
    publishedAt: row.published_at,
  };
}

export async function selectFeatures(db: CatalogDb): Promise<Feature[]> {
  const rows = await db.selectFrom('catalog_features').selectAll().orderBy('key').execute();
  return rows.map(toFeature);
}

export async function selectPlans(db: CatalogDb): Promise<Plan[]> {
  const rows = await db.selectFrom('catalog_plans').selectAll().orderBy('position').orderBy('key').execute();
  return rows.map(toPlan);
}

export async function selectPlanRows(db: CatalogDb) {
  return db.selectFrom('catalog_plans').selectAll().orderBy('position').orderBy('key').execute();
}

export async function selectVersion(db: CatalogDb, planKey: string, version: number) {
  const row = await db
    .selectFrom('catalog_plan_versions')
    .selectAll()
    .where('plan_key', '=', planKey)
    .where('version', '=', version)
    .executeTakeFirst();
  return row ? toPlanVersion(row) : null;
}

export async function selectVersionById(db: CatalogDb, id: string) {
  const row = await db
    .selectFrom('catalog_plan_versions')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? toPlanVersion(row) : null;
}

export async function selectVersions(db: CatalogDb, planKey: string) {
  const rows = await db
    .selectFrom('catalog_plan_versions')
    .selectAll()
    .where('plan_key', '=', planKey)
    .orderBy('version')
    .execute();
  return rows.map(toPlanVersion);
}

export async function selectLatestHashes(
  db: CatalogDb,
): Promise<Map<string, { version: number; hash: string }>> {
  const rows = await db
    .selectFrom('catalog_plan_versions as v')
    .innerJoin('catalog_plans as p', (j) =>
      j.onRef('p.key', '=', 'v.plan_key').onRef('p.latest_version', '=', 'v.version'),
    )
    .select(['v.plan_key', 'v.version', 'v.definition_hash'])
    .execute();
  return new Map(rows.map((r) => [r.plan_key, { version: r.version, hash: r.definition_hash }]));
}

/** Subscriptions per plan: all of them, and those not canceled. */
export async function countSubscriptions(db: CatalogDb): Promise<Map<string, { all: number; live: number }>> {
  const rows = await db
    .selectFrom('subscriptions')
    .select((eb) => [
      'plan_key',
      eb.fn.countAll<string>().as('all'),
      eb.fn.count<string>('id').filterWhere('status', '<>', 'canceled').as('live'),
    ])
    .groupBy('plan_key')
    .execute();
  return new Map(rows.map((r) => [r.plan_key, { all: Number(r.all), live: Number(r.live) }]));
}
