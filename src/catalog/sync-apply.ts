import { newId } from '../util/ids.ts';
import type { CatalogDb } from './repo.ts';
import type { CatalogInput, ComputedSync, PlannedPlan } from './sync.ts';

/** Writes a computed push: every configured feature upserted, the rest archived, then each plan. */
export async function applySync(tx: CatalogDb, input: CatalogInput, computed: ComputedSync, now: Date) {
  await upsertFeatures(tx, input, computed, now);
  for (const plan of computed.plans) {
    await applyPlanRow(tx, plan, now);
    if (plan.definition && plan.toVersion !== null) await insertPlanVersion(tx, plan, now);
  }
}

async function upsertFeatures(tx: CatalogDb, input: CatalogInput, computed: ComputedSync, now: Date) {
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
}

/** The plan's own row, by its action (its new version, if any, is inserted after). */
async function applyPlanRow(tx: CatalogDb, plan: PlannedPlan, now: Date) {
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
}

async function insertPlanVersion(tx: CatalogDb, plan: PlannedPlan, now: Date) {
  await tx
    .insertInto('catalog_plan_versions')
    .values({
      id: newId('plv'),
      plan_key: plan.key,
      version: plan.toVersion!,
      definition: JSON.stringify(plan.definition),
      definition_hash: plan.hash!,
      published_at: now,
    })
    .execute();
}
