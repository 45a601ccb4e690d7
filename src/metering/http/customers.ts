/**
 * Usage attribution: which subject keys belong to which customer. Tollgate's customers are
 * OpenMeter's customers (one store, nothing synced): the gateway meters a customer's usage under
 * its id, so a customer's subject keys are its id plus the keys set through
 * `usageAttribution.subjectKeys` (see customer-subjects.ts).
 */
export interface CustomerSubjects {
  /** Subject key → customer id for these customers; a 400 problem names an unknown customer. */
  subjectOwners(customerIds: readonly string[]): Promise<Map<string, string>>;
}
