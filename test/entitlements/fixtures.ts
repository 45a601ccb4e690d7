import { testCatalog } from '../support/catalog.ts';

/** The shared test catalog: Free (hard 1,000), Pro, Growth (soft), AI (trial), Enterprise (private). */
export const catalogConfig = testCatalog;
