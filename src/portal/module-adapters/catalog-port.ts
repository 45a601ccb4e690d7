import type { CatalogService } from '../../catalog/index.ts';
import type { ResolvedConfig } from '../../config/index.ts';
import type { CatalogPort } from '../dependencies.ts';
import { definitionAsPlan, planView } from '../plans.ts';

/** The public catalog as the pricing page shows it. */
export function catalogPort(catalog: CatalogService, config: () => ResolvedConfig): CatalogPort {
  return {
    async publicPlans() {
      const versions = await catalog.listPublicPlans();
      return versions.map((v) => planView(config(), definitionAsPlan(v.definition)));
    },
  };
}
