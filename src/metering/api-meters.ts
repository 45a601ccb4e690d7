import type { MeterConfig } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import { compileMeter, type Meter, type MeterRow } from './model.ts';

/** The meters created through the API (deleted ones too), compiled from their stored definitions. */
export async function loadApiMeters(store: Store): Promise<Meter[]> {
  const rows = await store.query<MeterRow & { definition: MeterConfig | string }>(
    `select key, id, slug, definition, created_at, updated_at, origin, deleted_at
     from metering_meters where origin = 'api' order by created_at, key`,
  );
  return rows.map((row) =>
    compileMeter(
      typeof row.definition === 'string' ? (JSON.parse(row.definition) as MeterConfig) : row.definition,
      row,
    ),
  );
}
